import { request } from "node:http";
import { GenericContainer, type StartedTestContainer, Wait } from "testcontainers";
import { dockerHasImage, dockerReachable } from "./docker-detect.js";
import { HarnessError } from "./errors.js";

/** A fake-gcs-server container with one bucket. */
export interface FakeGcs {
  /** http://host:port — pass as the GCS client's apiEndpoint. */
  readonly apiEndpoint: string;
  readonly bucket: string;
  readonly projectId: string;
  stop(): Promise<void>;
}

export const FAKE_GCS_IMAGE = "fsouza/fake-gcs-server:1.52.2";

/** Why startFakeGcs() returned null; tests print it as their skip reason. */
export const FAKE_GCS_UNAVAILABLE =
  "no Docker engine reachable, or it has no fake-gcs-server image and cannot pull one: fake-gcs-server needs testcontainers";

/**
 * Starts fsouza/fake-gcs-server with testcontainers when a Docker engine answers; returns null
 * at once (never hangs) when none does, or when the engine lacks the image and its pull fails
 * (no registry reachable), so suites can skip with FAKE_GCS_UNAVAILABLE.
 */
export async function startFakeGcs(options: { bucket?: string } = {}): Promise<FakeGcs | null> {
  if (!(await dockerReachable())) return null;
  const bucket = options.bucket ?? "tessera-test";
  let container: StartedTestContainer;
  try {
    container = await new GenericContainer(FAKE_GCS_IMAGE)
      .withCommand(["-scheme", "http", "-port", "4443", "-backend", "memory"])
      .withExposedPorts(4443)
      .withWaitStrategy(Wait.forListeningPorts())
      .start();
  } catch (err) {
    if (!(await dockerHasImage(FAKE_GCS_IMAGE))) return null; // the pull failed
    throw new HarnessError(
      "TESSERA_E_HARNESS_START",
      `fake-gcs-server did not start: ${(err as Error).message}`,
    );
  }
  const apiEndpoint = `http://${container.getHost()}:${container.getMappedPort(4443)}`;
  await createBucket(apiEndpoint, bucket).catch(async (err: Error) => {
    await container.stop();
    throw new HarnessError(
      "TESSERA_E_HARNESS_START",
      `fake-gcs-server: creating bucket ${bucket}: ${err.message}`,
    );
  });
  return {
    apiEndpoint,
    bucket,
    projectId: "tessera-test",
    stop: async () => {
      await container.stop();
    },
  };
}

function createBucket(apiEndpoint: string, bucket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ name: bucket });
    const req = request(
      `${apiEndpoint}/storage/v1/b?project=tessera-test`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        if (res.statusCode === 200 || res.statusCode === 409) resolve();
        else reject(new Error(`HTTP ${res.statusCode}`));
      },
    );
    req.once("timeout", () => req.destroy(new Error("timed out")));
    req.once("error", reject);
    req.end(body);
  });
}
