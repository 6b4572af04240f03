// `node bench/s3-store-cpu.mjs` (after `pnpm exec tsc -b`): the S3 blob store alone, without HTTP in front, on
// the tests' Swift: MiB/s and the store's own CPU time per MiB (process.cpuUsage) of an upload (append in
// 64 KiB chunks, as a socket delivers them, then commit) and of a read through openReader with 1 MiB buffers.
// CPU per MiB moves far less with the machine's load than MiB/s do, so it is what tells two versions apart.
// Env: MIB (blob size, default 128), ROUNDS (default 3), PART (part size in MiB, default the store's), STORE_DIST
// (another build of the store, a dir relative to packages/blobs-s3 holding its index.js, to compare two versions).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobSource } from './blob-data.mjs';
import { MiB } from './report.mjs';
import { loadSwiftLauncher } from './s3.mjs';

const S3_PACKAGE = fileURLToPath(new URL('../packages/blobs-s3/', import.meta.url));
const { S3BlobStore } = await import(join(S3_PACKAGE, process.env.STORE_DIST ?? 'dist', 'index.js'));
const size = Number(process.env.MIB ?? 128) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const cpuMs = (usage) => (usage.user + usage.system) / 1e3;
const seconds = (began) => Number(process.hrtime.bigint() - began) / 1e9;

const { startSwift } = await loadSwiftLauncher();
const swift = await startSwift();
try {
  const store = new S3BlobStore({
    bucket: swift.bucket,
    endpoint: swift.endpoint,
    region: swift.region,
    forcePathStyle: true,
    credentials: swift.credentials,
    prefix: 'store-cpu',
    ...(process.env.PART && { partSize: Number(process.env.PART) * MiB }),
  });
  for (let round = 0; round < rounds; round++) {
    const source = new BlobSource(700 + round, size);
    const { digest } = source.digest();
    const upload = await store.beginUpload();
    async function* socketChunks() {
      for (const chunk of source.chunks()) for (let at = 0; at < chunk.byteLength; at += 65536) yield chunk.subarray(at, at + 65536);
    }
    let cpu = process.cpuUsage();
    let began = process.hrtime.bigint();
    await store.appendUpload(upload.id, socketChunks(), 0);
    await store.commitUpload(upload.id, digest);
    const uploadCpu = cpuMs(process.cpuUsage(cpu));
    console.log(`upload ${size / MiB} MiB: ${(size / MiB / seconds(began)).toFixed(0)} MiB/s, ${(uploadCpu / (size / MiB)).toFixed(2)} ms CPU/MiB`);

    cpu = process.cpuUsage();
    began = process.hrtime.bigint();
    const reader = await store.openReader(digest);
    const buffer = Buffer.allocUnsafe(MiB);
    for (let offset = 0; offset < reader.size; ) offset += await reader.read(buffer, offset);
    await reader.close();
    const readCpu = cpuMs(process.cpuUsage(cpu));
    console.log(`read   ${size / MiB} MiB: ${(size / MiB / seconds(began)).toFixed(0)} MiB/s, ${(readCpu / (size / MiB)).toFixed(2)} ms CPU/MiB`);
  }
  await store.close();
} finally {
  await swift.stop();
}
