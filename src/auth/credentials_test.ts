import assert from "node:assert/strict";
import { presentedToken, selectedProtocol, withoutAccessToken } from "./credentials.ts";
import { AuthenticationError } from "./errors.ts";

function presented(headers: Record<string, string>, query = "", allowQuery = false) {
  const url = new URL(`http://gw/v1/stream?${query}`);
  return presentedToken(new Request(url, { headers }), allowQuery ? url.searchParams : undefined);
}

function malformed(fn: () => unknown): void {
  assert.throws(fn, (e) => e instanceof AuthenticationError && e.reason === "malformed");
}

Deno.test("a token comes from the Authorization header, a bearer subprotocol, or access_token", () => {
  assert.equal(presented({}), undefined);
  assert.equal(presented({ authorization: "Bearer abc.def-_~+/=" }), "abc.def-_~+/=");
  assert.equal(presented({ authorization: "bearer  tok" }), "tok");
  assert.equal(
    presented({ "sec-websocket-protocol": "tastesync.v1, bearer.tsk_abc" }),
    "tsk_abc",
  );
  assert.equal(presented({}, "access_token=tok&topic=x", true), "tok");
  assert.equal(presented({}, "access_token=tok"), undefined, "only where the query is allowed");
});

Deno.test("other schemes, odd tokens and two credentials at once are malformed", () => {
  malformed(() => presented({ authorization: "Basic dXNlcjpwYXNz" }));
  malformed(() => presented({ authorization: "Bearer" }));
  malformed(() => presented({ authorization: "Bearer a b" }));
  malformed(() => presented({ authorization: "Bearer a\u00e9" }));
  malformed(() => presented({ authorization: `Bearer ${"a".repeat(8193)}` }));
  malformed(() => presented({ authorization: "Bearer a" }, "access_token=b", true));
  malformed(() => presented({}, "access_token=a&access_token=b", true));
  malformed(() => presented({ "sec-websocket-protocol": "bearer.tok" }));
  malformed(() => presented({ "sec-websocket-protocol": "tastesync.v1, bearer.a, bearer.b" }));
});

Deno.test("the gateway selects tastesync.v1, never the bearer subprotocol", () => {
  const request = (protocols?: string) =>
    new Request(
      "http://gw/",
      protocols ? { headers: { "sec-websocket-protocol": protocols } } : {},
    );
  assert.equal(selectedProtocol(request("bearer.tok, tastesync.v1")), "tastesync.v1");
  assert.equal(selectedProtocol(request()), undefined);
  assert.equal(selectedProtocol(request("other")), undefined);
});

Deno.test("withoutAccessToken drops the token and keeps every other parameter", () => {
  const params = withoutAccessToken(new URLSearchParams("topic=t&access_token=x&venue=1"));
  assert.equal(params.toString(), "topic=t&venue=1");
});
