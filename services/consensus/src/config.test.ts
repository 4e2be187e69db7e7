import { certificateFiles } from "@tessera/config";
import { MANIFEST_FEATURE_LEVEL } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { ServiceError } from "./api/errors.js";
import { parseConsensusConfig } from "./config.js";

const PEERS = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003";

function errorOf(argv: string[], files: Record<string, string> = {}): string {
  try {
    parseConsensusConfig(argv, { readFile: (p) => files[p] ?? "" });
  } catch (err) {
    expect(err).toBeInstanceOf(ServiceError);
    return (err as Error).message;
  }
  throw new Error("expected a config error");
}

describe("parseConsensusConfig", () => {
  it("derives gRPC/HTTP addresses from --peers (HTTP = gRPC port + 1000)", () => {
    const c = parseConsensusConfig(["--id", "2", "--peers", PEERS, "--data", "/tmp/d2"]);
    expect(c.id).toBe(2);
    expect(c.grpcListen).toBe("127.0.0.1:7002");
    expect(c.httpListen).toBe("127.0.0.1:8002");
    expect(c.self).toEqual({ id: 2, grpc: "127.0.0.1:7002", http: "http://127.0.0.1:8002" });
    expect(c.peers.map((p) => p.http)).toEqual([
      "http://127.0.0.1:8001",
      "http://127.0.0.1:8002",
      "http://127.0.0.1:8003",
    ]);
    expect(c.natsServers).toBeUndefined();
    expect(c.join).toBe(false);
  });

  it("reads NATS credentials and TLS files from flags, the config file or the environment", () => {
    const base = ["--id", "1", "--peers", PEERS, "--data", "/tmp/d1", "--nats", "tls://n:4222"];
    const c = parseConsensusConfig([...base, "--config", "c.json", "--nats-tls-ca", "/f/ca.pem"], {
      readFile: () => JSON.stringify({ natsUser: "tessera", natsPasswordFile: "/f/pw" }),
      env: { TESSERA_NATS_TLS_CERT: "/e/c.pem", TESSERA_NATS_TLS_KEY: "/e/k.pem" },
    });
    expect(c.natsSecurity).toEqual({
      user: "tessera",
      passwordFile: "/f/pw",
      tlsCaFile: "/f/ca.pem",
      tlsCertFile: "/e/c.pem",
      tlsKeyFile: "/e/k.pem",
    });
    expect(parseConsensusConfig(base).natsSecurity).toEqual({});
    // The gRPC port's mutual TLS and the HTTP API's token come the same three ways.
    const secured = parseConsensusConfig([...base, "--cluster-tls-ca", "/t/ca.crt"], {
      env: {
        TESSERA_CLUSTER_TLS_CERT: "/t/tls.crt",
        TESSERA_CLUSTER_TLS_KEY: "/t/tls.key",
        TESSERA_API_TOKEN_FILE: "/t/token",
      },
    });
    expect(secured.clusterTls).toEqual({
      caFile: "/t/ca.crt",
      certFile: "/t/tls.crt",
      keyFile: "/t/tls.key",
    });
    expect(secured.apiTokenFile).toBe("/t/token");
    expect(parseConsensusConfig(base).clusterTls).toBeUndefined();
    expect(errorOf([...base, "--cluster-tls-cert", "/t/tls.crt"])).toMatch(
      /^--cluster-tls-ca: is required with the other --cluster-tls-… settings/,
    );
    expect(errorOf([...base, "--nats-user", "u"])).toBe(
      "--nats-password-file: is required with --nats-user",
    );
  });

  it("serves the API over HTTPS with --api-tls-cert/-key, every peer's URL then https://", () => {
    const base = ["--id", "2", "--peers", PEERS, "--data", "/tmp/d2"];
    const c = parseConsensusConfig([...base, "--config", "c.json"], {
      readFile: () => JSON.stringify({ apiTlsCert: "/t/api.crt" }),
      env: { TESSERA_API_TLS_KEY: "/t/api.key" },
    });
    expect(c.apiTls).toEqual({ certFile: "/t/api.crt", keyFile: "/t/api.key" });
    // Its certificate is one the peer reports the expiry of (with the cluster's and NATS's).
    expect(certificateFiles(c)).toEqual([{ flag: "api-tls-cert", path: "/t/api.crt" }]);
    expect(c.self.http).toBe("https://127.0.0.1:8002");
    expect(c.peers.map((p) => p.http)).toEqual([
      "https://127.0.0.1:8001",
      "https://127.0.0.1:8002",
      "https://127.0.0.1:8003",
    ]);
    expect(parseConsensusConfig(base).apiTls).toBeUndefined();
    expect(errorOf([...base, "--api-tls-key", "/t/api.key"])).toBe(
      "--api-tls-cert: is required with --api-tls-key",
    );
  });

  it("takes explicit --http / --peers-http / --nats / fault flags", () => {
    const c = parseConsensusConfig([
      "--id=1",
      `--peers=${PEERS}`,
      "--peers-http=1=127.0.0.1:9001,2=127.0.0.1:9002,3=127.0.0.1:9003",
      "--http=0.0.0.0:9001",
      "--data=/tmp/d1",
      "--nats=nats://127.0.0.1:4222,nats://127.0.0.1:4223",
      "--fault-delay-ms=30",
      "--fault-jitter-ms=5",
      "--tick-ms=10",
      "--snapshot-keep=0",
    ]);
    expect(c.httpListen).toBe("0.0.0.0:9001");
    expect(c.self.http).toBe("http://127.0.0.1:9001");
    expect(c.peers[2]?.http).toBe("http://127.0.0.1:9003");
    expect(c.natsServers).toEqual(["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]);
    expect(c.faults.default).toEqual({ delayMs: 30, jitterMs: 5, lossRate: 0 });
    expect(c.raft.tickMs).toBe(10);
    expect(c.raft.snapshotKeep).toBe(0);
  });

  it("reads a JSON config file; flags win", () => {
    const file = JSON.stringify({
      id: 3,
      peers: { "1": "127.0.0.1:7001", "2": "127.0.0.1:7002", "3": "127.0.0.1:7003" },
      data: "/var/lib/tessera",
      raft: { electionTicks: 20 },
      faults: { links: { "1": { delayMs: 100, lossRate: 1 } } },
    });
    const c = parseConsensusConfig(["--config", "c.json", "--data", "/tmp/x"], {
      readFile: () => file,
    });
    expect(c.id).toBe(3);
    expect(c.dataDir).toBe("/tmp/x");
    expect(c.raft.electionTicks).toBe(20);
    expect(c.faults.links[1]).toEqual({ delayMs: 100, jitterMs: 0, lossRate: 1 });
  });

  it("names the field in every error", () => {
    expect(errorOf(["--peers", PEERS, "--data", "d"])).toMatch(/^--id: is required/);
    expect(errorOf(["--id", "x", "--peers", PEERS, "--data", "d"])).toMatch(/^--id: "x" must be/);
    expect(errorOf(["--id", "1", "--data", "d"])).toMatch(/^--peers: is required/);
    expect(errorOf(["--id", "1", "--peers", "1=nohost", "--data", "d"])).toMatch(
      /^--peers: "nohost" must be host:port/,
    );
    expect(errorOf(["--id", "4", "--peers", PEERS, "--data", "d"])).toMatch(
      /^--grpc: is required when --peers has no entry for --id 4/,
    );
    expect(errorOf(["--id", "1", "--peers", PEERS])).toMatch(/^--data: is required/);
    expect(errorOf(["--id", "1", "--peers", PEERS, "--data", "d", "--nats", "http://x"])).toMatch(
      /^--nats: "http:\/\/x" must look like nats:\/\/host:port/,
    );
    expect(errorOf(["--id", "1", "--peers", PEERS, "--data", "d", "--fault-loss", "2"])).toMatch(
      /^--fault-loss: "2" must be a number between 0 and 1/,
    );
    expect(errorOf(["--id", "1", "--peers", PEERS, "--data", "d", "--bogus"])).toMatch(/^flags:/);
    expect(
      errorOf(["--config", "c.json"], {
        "c.json": JSON.stringify({ id: 1, peers: PEERS, data: "d", raft: { tickMs: -1 } }),
      }),
    ).toMatch(/^c\.json: \/raft\/tickMs: -1 must be an integer/);
    expect(errorOf(["--config", "c.json"], { "c.json": '{"idd": 1}' })).toMatch(
      /^c\.json: \/idd: is not a known setting/,
    );
  });

  it("takes the agents' heartbeat period from --heartbeat-ms, else TESSERA_HEARTBEAT_MS", () => {
    const argv = ["--id", "1", "--peers", PEERS, "--data", "d"];
    expect(parseConsensusConfig(argv, { env: {} }).heartbeatIntervalMs).toBe(1_000);
    const env = { TESSERA_HEARTBEAT_MS: "5000" };
    expect(parseConsensusConfig(argv, { env }).heartbeatIntervalMs).toBe(5_000);
    expect(
      parseConsensusConfig([...argv, "--heartbeat-ms", "2000"], { env }).heartbeatIntervalMs,
    ).toBe(2_000);
    expect(() => parseConsensusConfig(argv, { env: { TESSERA_HEARTBEAT_MS: "5s" } })).toThrow(
      /^TESSERA_HEARTBEAT_MS: "5s" must be an integer between 10 and 60000/,
    );
  });

  it("advertises the newest feature level unless --feature-level holds it lower", () => {
    const argv = ["--id", "1", "--peers", PEERS, "--data", "d"];
    expect(parseConsensusConfig(argv, { env: {} }).featureLevel).toBe(MANIFEST_FEATURE_LEVEL);
    expect(parseConsensusConfig([...argv, "--feature-level", "1"]).featureLevel).toBe(1);
    expect(() => parseConsensusConfig([...argv, "--feature-level", "0"])).toThrow(
      `--feature-level: "0" must be an integer between 1 and ${MANIFEST_FEATURE_LEVEL}`,
    );
  });

  it("lets a --join peer name its own address outside --peers", () => {
    const c = parseConsensusConfig([
      "--id",
      "4",
      "--join",
      "--peers",
      PEERS,
      "--grpc",
      "127.0.0.1:7004",
      "--data",
      "d4",
    ]);
    expect(c.join).toBe(true);
    expect(c.self).toEqual({ id: 4, grpc: "127.0.0.1:7004", http: "http://127.0.0.1:8004" });
  });
});
