// The "small realistic" function of the benchmark: a JSON transform of a
// ~10 KB order batch (see bench/lib/payload.mjs): validate, normalise, total
// per order and per customer, pick the top orders. Pure CPU on a parsed event;
// the platform parses the request and serialises the ~3 KB result.
export const handler = async (event) => {
  const orders = Array.isArray(event.orders) ? event.orders : [];
  const byCustomer = new Map();
  const normalised = [];
  let skipped = 0;
  for (const o of orders) {
    if (typeof o.id !== 'string' || !Array.isArray(o.items)) {
      skipped++;
      continue;
    }
    let total = 0;
    let units = 0;
    for (const it of o.items) {
      const qty = Number(it.qty) || 0;
      const price = Math.round((Number(it.price) || 0) * 100);
      total += qty * price;
      units += qty;
    }
    const discount = o.coupon === 'SAVE10' ? Math.round(total / 10) : 0;
    const net = total - discount;
    const customer = String(o.customer).toLowerCase();
    const c = byCustomer.get(customer) ?? { customer, orders: 0, cents: 0 };
    c.orders++;
    c.cents += net;
    byCustomer.set(customer, c);
    normalised.push({ id: o.id, customer, units, totalCents: net, country: (o.shipTo?.country ?? 'XX').toUpperCase() });
  }
  normalised.sort((a, b) => b.totalCents - a.totalCents);
  const customers = [...byCustomer.values()].sort((a, b) => b.cents - a.cents);
  return {
    batch: event.batchId,
    count: normalised.length,
    skipped,
    grandTotalCents: normalised.reduce((s, o) => s + o.totalCents, 0),
    topOrders: normalised.slice(0, 10),
    customers: customers.slice(0, 10),
  };
};
