import assert from "node:assert/strict";
import { CUSTOMER_IDENTIFIED } from "../events/customer_identified.ts";
import type { Envelope } from "../events/envelope.ts";
import { EventRegistry } from "../events/registry.ts";
import { parseSubscriptionRequest } from "../subscribe/request.ts";
import { ANONYMOUS } from "./anonymous.ts";
import { grants, Permissions } from "./permissions.ts";
import type { Principal } from "./principal.ts";

const registry = new EventRegistry();
const permissions = new Permissions(registry);
const type = registry.get("CustomerIdentified", "v1")!;

function principal(scopes: string[], venues?: string[]): Principal {
  return {
    id: "p",
    kind: "api_key",
    scopes: new Set(scopes),
    ...(venues ? { venues: new Set(venues) } : {}),
  };
}

function envelope(venue: number): Envelope<Record<string, unknown>> {
  const data = structuredClone(CUSTOMER_IDENTIFIED.versions.v1.example);
  (data.beacon as { major: number }).major = venue;
  return {
    event_id: `e-${venue}`,
    event_type: "CustomerIdentified",
    timestamp: "2025-03-02T12:00:00Z",
    version: "v1",
    data,
  };
}

function request(query: string) {
  const params = new URLSearchParams(query);
  const parsed = parseSubscriptionRequest(registry, params, "customer-events");
  assert.ok(parsed.ok);
  return { request: parsed.request, params };
}

Deno.test("grants: exact scopes, kind:prefix* wildcards, never across kinds", () => {
  const granted = new Set(["publish:CustomerIdentified", "group:kitchen-*", "subscribe:*"]);
  assert.ok(grants(granted, "publish:CustomerIdentified"));
  assert.ok(!grants(granted, "publish:TableFreed"));
  assert.ok(grants(granted, "group:kitchen-1"));
  assert.ok(grants(granted, "group:kitchen-"));
  assert.ok(!grants(granted, "group:bar-1"));
  assert.ok(grants(granted, "subscribe:any-topic"));
  assert.ok(!grants(granted, "admin"));
  assert.ok(!grants(new Set(["*"]), "admin"), "a bare * is no scope");
  assert.ok(!grants(new Set(["*"]), "publish:CustomerIdentified"));
  assert.ok(
    !grants(new Set(["publish*"]), "publish:CustomerIdentified"),
    "the kind is not a prefix",
  );
  assert.ok(!grants(new Set(["sub*"]), "subscribe:x"));
  assert.ok(grants(ANONYMOUS.scopes, "admin"));
  assert.ok(grants(ANONYMOUS.scopes, "group:any"));
});

Deno.test("publish needs publish:<type>, and a pinned principal only its venues", () => {
  assert.equal(permissions.publish(principal(["publish:*"]), type, envelope(200)), undefined);
  const noScope = permissions.publish(principal(["subscribe:*"]), type, envelope(100));
  assert.deepEqual(noScope, {
    reason: "scope",
    detail: 'Needs the scope "publish:CustomerIdentified"',
    scope: "publish:CustomerIdentified",
  });
  const pinned = principal(["publish:CustomerIdentified"], ["100", "101"]);
  assert.equal(permissions.publish(pinned, type, envelope(100)), undefined);
  const foreign = permissions.publish(pinned, type, envelope(200));
  assert.equal(foreign?.reason, "venue");
  assert.match(foreign!.detail, /"200"/);
  assert.equal(permissions.publish(principal([], ["100"]), type, envelope(100))?.reason, "scope");
});

Deno.test("subscription needs subscribe:<topic>, and group:<name> to join a group", () => {
  const { request: plain, params } = request("");
  assert.ok(permissions.subscription(principal(["subscribe:customer-events"]), plain, params).ok);
  const refused = permissions.subscription(principal(["subscribe:other"]), plain, params);
  assert.ok(!refused.ok && refused.refusal.scope === "subscribe:customer-events");
  const grouped = request("group=kitchen-1");
  const member = principal(["subscribe:*", "group:kitchen-*"]);
  assert.ok(permissions.subscription(member, grouped.request, grouped.params).ok);
  const outsider = permissions.subscription(
    principal(["subscribe:*"]),
    grouped.request,
    grouped.params,
  );
  assert.ok(!outsider.ok && outsider.refusal.scope === "group:kitchen-1");
  const bar = request("group=bar-1");
  assert.ok(!permissions.subscription(member, bar.request, bar.params).ok);
});

Deno.test("a pinned subscription gets its venues only, and naming another venue is refused", () => {
  const pinned = principal(["subscribe:*"], ["100"]);
  const all = request("");
  const granted = permissions.subscription(pinned, all.request, all.params);
  assert.ok(granted.ok);
  assert.ok(granted.request.filter(envelope(100)));
  assert.ok(!granted.request.filter(envelope(200)));
  assert.ok(!granted.request.filter({ ...envelope(100), event_type: "Unregistered" }));

  const own = request("venue=100");
  const narrowed = permissions.subscription(pinned, own.request, own.params);
  assert.ok(narrowed.ok && narrowed.request.filter(envelope(100)));

  const foreign = request("venue=200");
  const refused = permissions.subscription(pinned, foreign.request, foreign.params);
  assert.ok(!refused.ok);
  assert.equal(refused.refusal.reason, "venue");

  const other = request("location=Table%203");
  const filtered = permissions.subscription(pinned, other.request, other.params);
  assert.ok(filtered.ok);
  assert.ok(filtered.request.filter(envelope(100)), "the query's filter still applies");
  assert.ok(!filtered.request.filter(envelope(200)), "and so does the pin");
});

Deno.test("an organisation-wide principal's subscription is not filtered by venue", () => {
  const wide = principal(["subscribe:*"]);
  const { request: all, params } = request("");
  const granted = permissions.subscription(wide, all, params);
  assert.ok(granted.ok);
  assert.equal(granted.request, all);
  const foreign = request("venue=200");
  assert.ok(permissions.subscription(wide, foreign.request, foreign.params).ok);
});
