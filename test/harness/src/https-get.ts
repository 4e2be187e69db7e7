/**
 * A GET over HTTPS trusting one CA (a test PKI's), for tests of the services' HTTPS endpoints:
 * Node's fetch takes no per-request CA, and the services' packages should not depend on the
 * consensus client (`apiFetcher`) just for their tests.
 */
import { request } from "node:https";

export interface HttpsAnswer {
  readonly status: number;
  readonly body: string;
}

export function httpsGet(
  url: string,
  options: { readonly ca: string; readonly headers?: Record<string, string> },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: options.ca, headers: options.headers ?? {} }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url}: no answer in 10 s`)));
    req.on("error", reject);
    req.end();
  });
}
