/**
 * berth's web UI: {@link uiAssets} serves its built pages as Koa middleware. The pages read the JSON API that
 * `registry.ui()` from `@berth/koa` mounts next to them; most hosts mount that rather than this directly.
 *
 * @packageDocumentation
 */
export { uiAssets, type UiAssetsOptions } from './ui-assets.js';
