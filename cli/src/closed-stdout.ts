// `tessera … | head`: once the reader has gone, each write to stdout fails with EPIPE, which Node
// raises as an unhandled 'error' event (a stack trace on stderr, exit 1) where a Unix tool would
// simply have died of SIGPIPE. The CLI ends the way it ends on SIGTERM instead: one-shot commands
// stop, `dev up` stops every process it started, `logs --follow` stops following.
import type { EventEmitter } from "node:events";

export function endOnClosedStdout(
  stdout: EventEmitter = process.stdout,
  end: () => void = () => process.kill(process.pid, "SIGTERM"),
): void {
  let ended = false;
  stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    if (ended) return;
    ended = true;
    end();
  });
}
