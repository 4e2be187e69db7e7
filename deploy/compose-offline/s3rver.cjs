// Stand-in for MinIO (the `minio` service) on a host that reaches no container registry: s3rver,
// the S3 server the test suites use, on :9000 with the compose file's bucket and credentials.
const S3rver = require("s3rver");
const { DUMMY_ACCOUNT } = require("s3rver/lib/models/account");

// docker-compose.yml gives every Tessera container MinIO's root user (tessera / tessera-secret).
DUMMY_ACCOUNT.createKeyPair("tessera", "tessera-secret");
new S3rver({
  address: "0.0.0.0",
  port: 9000,
  directory: "/data",
  // Path-style only: a Host of `minio:9000` names the server, not a bucket called "minio".
  vhostBuckets: false,
  configureBuckets: [{ name: "tessera", configs: [] }],
})
  .run()
  .then(() => console.log("s3rver listening on :9000, bucket tessera"));
process.on("SIGTERM", () => process.exit(0));
