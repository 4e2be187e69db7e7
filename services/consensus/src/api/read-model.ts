// Adapter from the manifest FSM's query methods to the read model the APIs serve.
import type { ManifestFsm } from "../fsm/manifest-fsm.js";
import type { ManifestReadModel } from "./queries.js";

export function fsmReadModel(fsm: ManifestFsm): ManifestReadModel {
  // The digest hashes the whole state: computed at most once per applied index.
  let cached: { index: number; digest: string } | undefined;
  return {
    job: (jobId) => fsm.getJob(jobId),
    task: (jobId, taskId) => fsm.getTask(jobId, taskId),
    tasks: (jobId, from, limit) => fsm.listTasks(jobId, from, limit),
    attempts: (jobId) => (fsm.getJob(jobId) ? [...fsm.liveAttempts(jobId)] : undefined),
    jobs: (filter) => fsm.listJobs(filter),
    nodes: () => fsm.listNodes(),
    stats: () => fsm.stats(),
    digest: () => {
      if (cached?.index !== fsm.appliedIndex) {
        cached = { index: fsm.appliedIndex, digest: fsm.digest() };
      }
      return cached.digest;
    },
    get appliedIndex() {
      return fsm.appliedIndex;
    },
    get featureLevel() {
      return fsm.featureLevel;
    },
  };
}
