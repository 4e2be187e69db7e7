// `node --openssl-legacy-provider dist/local-s3.js --dir DIR --bucket NAME --port N`: the S3
// endpoint `tessera dev up --storage s3` starts when no S3 is configured (no TESSERA_S3_ENDPOINT,
// no AWS_REGION), so the S3 code path of every service runs on a laptop without MinIO or Docker.
//
// It is s3rver: the S3 protocol over a local directory, with no fsync and one fixed account
// (S3RVER/S3RVER). Good for development and tests, not a durable store. The legacy OpenSSL
// provider is for its ListObjectsV2 continuation tokens (DES), which the storage-manager's
// clean-up pages through.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string; configs: never[] }[];
}) => S3rverServer;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: "string" },
      bucket: { type: "string" },
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!values.dir || !values.bucket || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error("usage: local-s3.js --dir DIR --bucket NAME --port N [--host H]");
  }
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;
  const server = new S3rver({
    address: values.host,
    port,
    silent: true,
    directory: values.dir,
    configureBuckets: [{ name: values.bucket, configs: [] }],
  });
  await server.run();
  process.stdout.write(
    `local S3 (s3rver) on http://${values.host}:${port}, bucket ${values.bucket}, in ${values.dir}\n`,
  );
  const stop = () => {
    server
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`local-s3: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
