// A minimal POSIX ustar writer: enough to build real layer tarballs (directories and regular
// files) without shelling out to `tar`, so the bytes depend only on the inputs.

const BLOCK = 512;

export type TarEntry =
  | { readonly type: 'directory'; readonly name: string; readonly mode?: number; readonly mtime: Date }
  | { readonly type: 'file'; readonly name: string; readonly mode?: number; readonly mtime: Date; readonly content: Uint8Array };

export function writeTar(entries: readonly TarEntry[]): Buffer {
  const chunks: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.type === 'file' ? Buffer.from(entry.content) : Buffer.alloc(0);
    chunks.push(header(entry, content.length));
    if (content.length > 0) {
      chunks.push(content, Buffer.alloc(padding(content.length)));
    }
  }
  // The archive ends with two zero-filled blocks.
  chunks.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(chunks);
}

function header(entry: TarEntry, size: number): Buffer {
  const name = entry.type === 'directory' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  if (Buffer.byteLength(name) > 100) {
    throw new Error(`tar entry name longer than 100 bytes is not supported: ${name}`);
  }
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644));
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.floor(entry.mtime.getTime() / 1000));
  block.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  block.write(entry.type === 'directory' ? '5' : '0', 156, 1, 'ascii');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  block.write('root', 265, 32, 'ascii');
  block.write('root', 297, 32, 'ascii');
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/** Octal number, zero-padded to fill the field minus its terminating NUL. */
function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`value ${value} does not fit a ${length}-byte tar field`);
  block.write(`${digits}\0`, offset, length, 'ascii');
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
