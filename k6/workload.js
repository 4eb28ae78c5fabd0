// The workload: one scenario per run, chosen by -e SCENARIO=<name>.
//
//   closed model (MODEL=closed): VUS virtual users loop for DURATION; throughput.
//   open model   (MODEL=open):   RATE iterations/s arrive for DURATION whatever the
//                                latency; latency under a load every step must carry.
//
// It only follows the `next` links the API returns, so it works unchanged against page
// numbers (steps 01-04) and cursors (05-08). `make bench` runs it; see bench/workload.py.

import exec from "k6/execution";
import { detail, follow, list, write } from "./lib/api.js";
import { loadTerms, pick, skewed, skewedWithin } from "./lib/terms.js";

const BASE = __ENV.BASE_URL || "http://127.0.0.1:8000";
const SCENARIO = __ENV.SCENARIO || "list";
const MODEL = __ENV.MODEL || "closed";
const terms = loadTerms(__ENV.TERMS);
const customer = JSON.parse(open("./customer.json"));

const ORDERINGS = ["created", "first_name", "last_name", "birthday", "points", "customer_id"];
// The harness passes its own count (bench/probe.py WALK_PAGES), so probe and load agree.
const WALK_PAGES = Number(__ENV.WALK_PAGES || 10);

function listFirstPage() {
  list(BASE, null, "list");
}

// A walk stops at the next page once the scenario's time is up. On a slow step one walk
// outlasts a short run, and k6 would otherwise wait for it: the run would end with fewer
// clients than it measured with, and last several times its duration.
function walk() {
  let page = list(BASE, null, "walk");
  for (let i = 0; i < WALK_PAGES && page && page.next && exec.scenario.progress < 1; i++) {
    page = follow(page.next, "walk");
  }
}

// Every filter of the contract, alone and in the pairs people combine. Names, cities and
// customer_ids are drawn with the same skew as the other scenarios (values a cache has
// seen most of the time, rarer ones for its misses), and dates are fresh. Countries,
// genders and point thresholds have a handful of values each, drawn evenly: the rare
// ones (a gender 3 % of customers have, the top of the skewed points) are where a plan
// is most likely to go wrong, and an even draw keeps them in every run.
const GENDERS = ["female", "male", "undefined", "other"];
const POINTS = [1000, 5000, 10000, 20000, 30000, 40000, 45000];
const DAY_MS = 86400000;

// A day in the `years` from `start` (ms since the epoch), as YYYY-MM-DD.
function day(start, years, offsetDays = 0) {
  const days = Math.floor(Math.random() * years * 365) + offsetDays;
  return new Date(start + days * DAY_MS).toISOString().slice(0, 10);
}

const filters = {
  firstName: () => skewed(terms.first_names).slice(0, 3),
  lastName: () => skewed(terms.last_names).slice(0, 3),
  city: () => skewed(terms.cities),
  country: () => pick(terms.countries.hot),
  gender: () => pick(GENDERS),
  points: () => pick(POINTS),
  // Born in one year from 1940 to 2002: what a birthday campaign asks for.
  born: () => {
    const from = day(Date.UTC(1940, 0, 1), 63);
    return { birthday_after: from, birthday_before: day(Date.parse(from), 0, 364) };
  },
  // Customers since a day of the last two years of the data (2019-2024).
  since: () => day(Date.UTC(2023, 0, 1), 2),
};

const FILTERS = [
  () => ({ first_name: filters.firstName() }),
  () => ({ last_name: filters.lastName() }),
  () => ({ city: filters.city() }),
  () => ({ country: filters.country() }),
  () => ({ customer_id: skewed(terms.customer_ids) }),
  () => ({ gender: filters.gender() }),
  () => filters.born(),
  () => ({ created_after: filters.since() }),
  () => (Math.random() < 0.5 ? { points_min: filters.points() } : { points_max: pick(POINTS) / 100 }),
  () => ({ has_address: Math.random() < 0.8 ? "false" : "true" }),
  () => ({ last_name: filters.lastName(), city: filters.city() }),
  () => ({ first_name: filters.firstName(), last_name: filters.lastName() }),
  () => ({ country: filters.country(), gender: filters.gender() }),
  () => ({ city: filters.city(), points_min: filters.points() }),
  () => ({ country: filters.country(), created_after: filters.since() }),
  () => ({ gender: filters.gender(), ...filters.born() }),
];

function filter() {
  list(BASE, pick(FILTERS)(), "filter");
}

// Selective terms match one customer or a few: a customer_id, or a last name from the
// rare end of the data. Broad ones match thousands: a common city or first name. Each
// is its own scenario, so that what an index buys the one is not averaged into the other.
const RARE_LAST_NAMES = [...terms.last_names.cold].reverse();

function search() {
  const term = Math.random() < 0.5 ? skewed(terms.customer_ids) : skewedWithin(RARE_LAST_NAMES);
  list(BASE, { search: term }, "search");
}

function searchBroad() {
  const group = Math.random() < 0.5 ? terms.cities : terms.first_names;
  list(BASE, { search: skewedWithin(group.hot) }, "search-broad");
}

function sort() {
  const key = pick(ORDERINGS);
  list(BASE, { ordering: Math.random() < 0.5 ? key : `-${key}` }, "sort");
}

// Every request a listing no one asked for before (a random day and page size): on a
// cached step, what a miss costs; elsewhere, one more filtered first page.
function unique() {
  const params = { created_before: day(Date.UTC(2020, 0, 1), 5) };
  params.page_size = 1 + Math.floor(Math.random() * 100);
  list(BASE, params, "unique");
}

// One deep page, asked again and again. make bench-scale reaches page 50 once, as a
// client would, and passes its URL in: a cursor cannot be made up.
function deepPage() {
  follow(__ENV.DEEP_URL, "deep");
}

function showDetail() {
  detail(BASE, skewed(terms.ids), "detail");
}

function writeOwn() {
  const key = `${exec.vu.idInTest}-${exec.scenario.iterationInTest}-${Date.now()}`;
  write(BASE, customer, key, "write");
}

// What a day of traffic might look like: reads dominate, a few percent are writes.
const MIX = [
  [35, showDetail],
  [8, search],
  [7, searchBroad],
  [15, filter],
  [15, listFirstPage],
  [10, sort],
  [5, () => {
    const page = list(BASE, null, "walk");
    if (page && page.next) follow(page.next, "walk");
  }],
  [5, writeOwn],
];
const MIX_TOTAL = MIX.reduce((sum, [weight]) => sum + weight, 0);

// The same day without its writes: what a cache can give when nothing invalidates it,
// so that the cost of the writes' invalidation can be read off against `mixed`.
const READS = MIX.filter(([, action]) => action !== writeOwn);
const READS_TOTAL = READS.reduce((sum, [weight]) => sum + weight, 0);

function blend(mix, total) {
  let roll = Math.random() * total;
  for (const [weight, action] of mix) {
    roll -= weight;
    if (roll < 0) return action();
  }
}

function mixed() {
  blend(MIX, MIX_TOTAL);
}

function mixedReads() {
  blend(READS, READS_TOTAL);
}

const SCENARIOS = {
  list: listFirstPage,
  walk,
  filter,
  search,
  "search-broad": searchBroad,
  sort,
  unique,
  deep: deepPage,
  detail: showDetail,
  write: writeOwn,
  mixed,
  "mixed-reads": mixedReads,
};

if (!(SCENARIO in SCENARIOS)) {
  throw new Error(`unknown SCENARIO ${SCENARIO}; one of ${Object.keys(SCENARIOS).join(", ")}`);
}

if (SCENARIO === "deep" && !__ENV.DEEP_URL) {
  throw new Error("the deep scenario needs DEEP_URL, the page to ask for (make bench-scale sets it)");
}

const executor =
  MODEL === "open"
    ? {
        executor: "constant-arrival-rate",
        rate: Number(__ENV.RATE || 20),
        timeUnit: "1s",
        duration: __ENV.DURATION || "10s",
        preAllocatedVUs: Number(__ENV.VUS || 8),
        maxVUs: Number(__ENV.MAX_VUS || 64),
      }
    : { executor: "constant-vus", vus: Number(__ENV.VUS || 8), duration: __ENV.DURATION || "10s" };

export const options = {
  scenarios: { [SCENARIO]: { ...executor, exec: "run" } },
  summaryTrendStats: ["avg", "min", "med", "p(95)", "p(99)", "max"],
  discardResponseBodies: false,
};

export function run() {
  SCENARIOS[SCENARIO]();
}

function value(data, metric, stat) {
  const found = data.metrics[metric];
  return found && found.values[stat] !== undefined ? found.values[stat] : null;
}

// The harness reads this file; the numbers are k6's own, nothing is recomputed.
export function handleSummary(data) {
  const summary = {
    scenario: SCENARIO,
    model: MODEL,
    duration_ms: data.state.testRunDurationMs,
    requests: value(data, "http_reqs", "count"),
    requests_per_second: value(data, "http_reqs", "rate"),
    iterations: value(data, "iterations", "count"),
    dropped_iterations: value(data, "dropped_iterations", "count") || 0,
    latency_ms: {
      avg: value(data, "http_req_duration", "avg"),
      p50: value(data, "http_req_duration", "med"),
      p95: value(data, "http_req_duration", "p(95)"),
      p99: value(data, "http_req_duration", "p(99)"),
      max: value(data, "http_req_duration", "max"),
    },
    error_rate: value(data, "errors", "rate") || 0,
    errors: value(data, "errors", "passes") || 0,
    checks_failed: value(data, "checks", "fails") || 0,
    unavailable: value(data, "unavailable", "count") || 0,
    server_errors: value(data, "server_errors", "count") || 0,
    unanswered: value(data, "unanswered", "count") || 0,
    cache_hit_ratio: value(data, "cache_hits", "rate"),
  };
  const out = { stdout: "" };
  out[__ENV.SUMMARY || "k6-summary.json"] = JSON.stringify(summary, null, 1);
  return out;
}
