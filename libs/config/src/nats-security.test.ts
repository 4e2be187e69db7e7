import { describe, expect, it } from "vitest";
import {
  NATS_SECURITY_ENV,
  NATS_SECURITY_HELP,
  natsSecurityEnv,
  natsSecurityIsSet,
} from "./nats-security.js";

describe("NATS security settings", () => {
  it("hands a child process the same settings as environment variables, paths only", () => {
    const sec = { user: "u", passwordFile: "/run/secrets/pw", tlsCaFile: "/run/secrets/ca.pem" };
    expect(natsSecurityEnv(sec)).toEqual({
      TESSERA_NATS_USER: "u",
      TESSERA_NATS_PASSWORD_FILE: "/run/secrets/pw",
      TESSERA_NATS_TLS_CA: "/run/secrets/ca.pem",
    });
    expect(natsSecurityEnv({})).toEqual({});
    expect(natsSecurityIsSet(sec)).toBe(true);
    expect(natsSecurityIsSet({})).toBe(false);
  });

  it("documents every flag and its environment variable in the help text", () => {
    for (const [flag, env] of Object.entries(NATS_SECURITY_ENV)) {
      expect(NATS_SECURITY_HELP).toMatch(new RegExp(`--${flag} .*env ${env}$`, "m"));
    }
  });
});
