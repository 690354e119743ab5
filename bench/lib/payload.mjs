/**
 * Deterministic events for the benchmark functions. The transform event is a
 * batch of orders of about 10 KB of JSON (the "small realistic"
 * payload); the same bytes are sent to every platform and baseline.
 */

/** A small LCG so the payload is identical on every run and machine. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The trivial function's event. */
export function trivialEvent() {
  return { n: 1 };
}

/** About `targetBytes` of orders as a JSON-able object. */
export function transformEvent(targetBytes = 10 * 1024) {
  const r = rng(42);
  const customers = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances', 'Edsger', 'Radia'];
  const countries = ['de', 'fr', 'us', 'jp', 'br', 'in'];
  const orders = [];
  const event = { batchId: 'batch-0001', source: 'bench', orders };
  let size = JSON.stringify(event).length;
  for (let i = 0; size < targetBytes; i++) {
    const items = [];
    const n = 1 + Math.floor(r() * 3);
    for (let j = 0; j < n; j++) {
      items.push({ sku: `SKU-${Math.floor(r() * 1e5)}`, qty: 1 + Math.floor(r() * 4), price: Math.round(r() * 10000) / 100 });
    }
    const order = {
      id: `ord-${String(i).padStart(5, '0')}`,
      customer: customers[Math.floor(r() * customers.length)],
      coupon: r() < 0.3 ? 'SAVE10' : null,
      shipTo: { country: countries[Math.floor(r() * countries.length)], zip: String(10000 + Math.floor(r() * 89999)) },
      items,
    };
    orders.push(order);
    size += JSON.stringify(order).length + 1;
  }
  return event;
}
