// Is the scheduler's follow of TESSERA_EVENTS stuck?
//
// The view is only as fresh as the events it has applied. A JetStream consumer can stall
// without an error (its pull request lost with a killed cluster member, a consumer reset that
// failed while the meta leader was being re-elected); the scheduler would then place work from
// a view that never learns of completions, and only deadline expiries would move the job.
// Stalled means: the stream holds events we have not applied, and across two consecutive
// checks we applied none of them. Pure: the shell feeds it sequence numbers on a timer.

export class FollowWatchdog {
  private previous: number | undefined;

  /**
   * One periodic check. `applied` is the last event sequence applied to the view; `streamLast`
   * the stream's last sequence now. True once the follow made no progress while behind.
   */
  check(applied: number, streamLast: number): boolean {
    const behind = streamLast > applied;
    const stuck = behind && this.previous === applied;
    this.previous = behind ? applied : undefined;
    return stuck;
  }

  /** After a restart of the follow, the next check starts a fresh observation. */
  reset(): void {
    this.previous = undefined;
  }
}
