import { describe, expect, it } from "vitest";
import { switchSetting } from "./switch.js";

const fail = (reason: string) => new Error(reason);

describe("switchSetting", () => {
  it("is on when the flag is given, else follows the variable (unset, 0, false: off)", () => {
    expect(switchSetting(true, "X", { X: "0" }, fail)).toBe(true);
    expect(switchSetting(undefined, "X", {}, fail)).toBe(false);
    expect(switchSetting(undefined, "X", { X: "" }, fail)).toBe(false);
    expect(switchSetting(undefined, "X", { X: "false" }, fail)).toBe(false);
    expect(switchSetting(undefined, "X", { X: "1" }, fail)).toBe(true);
    expect(switchSetting(undefined, "X", { X: "true" }, fail)).toBe(true);
  });

  it("rejects anything else, naming the variable", () => {
    expect(() =>
      switchSetting(undefined, "TESSERA_SHIP_LOGS", { TESSERA_SHIP_LOGS: "yes" }, fail),
    ).toThrow('TESSERA_SHIP_LOGS: "yes" must be 0, 1, true or false');
  });
});
