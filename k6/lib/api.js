// Requests against the contract of docs/api-contract.md. Every response is checked for
// status and shape; a failed check counts as an error and is never retried.

import http from "k6/http";
import { check } from "k6";
import { Counter, Rate } from "k6/metrics";

export const errors = new Rate("errors");
// Answers a client may retry (503: the database is out of reach or out of connections)
// apart from every other 5xx, which make test-faults allows under no load.
export const unavailable = new Counter("unavailable");
export const serverErrors = new Counter("server_errors");
// Status 0: no answer at all (refused, reset, or past k6's 60 s timeout).
export const unanswered = new Counter("unanswered");
// Cached steps (07 on) answer reads with X-Cache: hit or miss; the share of hits per
// scenario goes into the result file. Steps without a cache send no header: no samples.
export const cacheHits = new Rate("cache_hits");

function countCache(response) {
  const outcome = response.headers["X-Cache"];
  if (outcome) cacheHits.add(outcome === "hit");
}

const JSON_HEADERS = { headers: { "Content-Type": "application/json" } };

function verify(response, name, expected, shape) {
  if (response.status === 503) unavailable.add(1);
  else if (response.status >= 500) serverErrors.add(1);
  else if (response.status === 0) unanswered.add(1);
  const ok = check(response, {
    [`${name}: status ${expected}`]: (r) => r.status === expected,
    [`${name}: shape`]: (r) => r.status !== expected || shape(r),
  });
  errors.add(!ok, { name });
  return ok;
}

function isPage(r) {
  const body = r.json();
  return Array.isArray(body.results) && "next" in body && "previous" in body;
}

function isCustomer(r) {
  const body = r.json();
  return typeof body.id === "number" && typeof body.customer_id === "string";
}

export function query(params) {
  return Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join("&");
}

// A listing; returns the page (or null after a counted error) so callers can follow `next`.
export function list(base, params, name) {
  const qs = params ? query(params) : "";
  const url = `${base}/api/customers/${qs ? "?" + qs : ""}`;
  return follow(url, name);
}

export function follow(url, name) {
  const response = http.get(url, { tags: { name } });
  countCache(response);
  return verify(response, name, 200, isPage) ? response.json() : null;
}

export function detail(base, id, name) {
  const response = http.get(`${base}/api/customers/${id}/`, { tags: { name } });
  countCache(response);
  verify(response, name, 200, isCustomer);
}

// Create, patch and delete a customer of its own: never touches rows other runs rely on.
// `customer` is k6/customer.json, the body the harness's probe pass writes too.
export function write(base, customer, key, name) {
  const body = { ...customer, customer_id: `K6-${key}` };
  const created = http.post(`${base}/api/customers/`, JSON.stringify(body), {
    ...JSON_HEADERS,
    tags: { name: `${name}:create` },
  });
  if (!verify(created, `${name}:create`, 201, isCustomer)) {
    return;
  }
  const url = `${base}/api/customers/${created.json().id}/`;
  const patched = http.patch(url, JSON.stringify({ last_name: "Murray Hopper" }), {
    ...JSON_HEADERS,
    tags: { name: `${name}:patch` },
  });
  verify(patched, `${name}:patch`, 200, isCustomer);
  const deleted = http.del(url, null, { tags: { name: `${name}:delete` } });
  verify(deleted, `${name}:delete`, 204, () => true);
}
