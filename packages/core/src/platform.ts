import { RegistryError } from './errors.js';
import type { Descriptor, Platform } from './manifest/types.js';

/** A platform a registry falls back to, as `os/architecture[/variant]`. */
export interface PlatformPreference {
  /** Operating system, for example `linux`. */
  os: string;
  /** CPU architecture, for example `amd64` or `arm64`. */
  architecture: string;
  /** CPU variant, for example `v8`; when absent any variant matches. */
  variant?: string;
}

/** What distribution picks for a client that cannot read lists: linux/amd64. */
export const DEFAULT_PLATFORMS: readonly PlatformPreference[] = [{ os: 'linux', architecture: 'amd64' }];

/** Parses `linux/arm64/v8` into a preference; anything else than 2 or 3 non-empty parts is refused. */
export function parsePlatform(text: string): PlatformPreference {
  const parts = text.split('/');
  if ((parts.length !== 2 && parts.length !== 3) || parts.some((part) => part === '')) {
    throw new RegistryError('UNSUPPORTED', `invalid platform "${text}": expected os/architecture[/variant]`, {
      status: 400,
    });
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return { os, architecture, ...(variant !== undefined && { variant }) };
}

export function formatPlatform(platform: Platform | PlatformPreference): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

// Variants that mean the same as none at all, as containerd normalises them.
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7' };

function variantOf(platform: { architecture: string; variant?: string | undefined }): string | undefined {
  return platform.variant ?? DEFAULT_VARIANT[platform.architecture];
}

/**
 * The first child that matches the first preference that any child matches. A preference without
 * a variant matches any variant of its architecture; one with a variant matches only that variant
 * (`arm64` and `arm64/v8` are the same).
 */
export function selectPlatformChild(
  children: readonly Descriptor[],
  preferences: readonly PlatformPreference[],
): Descriptor | undefined {
  for (const wanted of preferences) {
    const match = children.find(
      (child) =>
        child.platform !== undefined &&
        child.platform.os === wanted.os &&
        child.platform.architecture === wanted.architecture &&
        (wanted.variant === undefined || variantOf(child.platform) === variantOf(wanted)),
    );
    if (match) return match;
  }
  return undefined;
}
