// Terms sampled from the seeded data by the harness (bench/database.py writes the file).
// Hot terms are the most frequent values; a skewed choice sends HOT_SHARE of the picks
// to them, so a cache (step 07) meets a realistic hit rate instead of all hits or none.

export const HOT_SHARE = 0.8;

export function loadTerms(path) {
  if (!path) {
    throw new Error("TERMS is not set: run k6 through `make bench`, or pass -e TERMS=<file>");
  }
  return JSON.parse(open(path));
}

export function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

export function skewed(group) {
  return Math.random() < HOT_SHARE ? pick(group.hot) : pick(group.cold);
}

// The same skew inside one list: HOT_SHARE of the picks go to its first tenth.
export function skewedWithin(list) {
  const head = Math.max(1, Math.ceil(list.length / 10));
  const rest = list.slice(head);
  return rest.length && Math.random() >= HOT_SHARE ? pick(rest) : pick(list.slice(0, head));
}
