// The I/O-bound function of the concurrency scenario (issue 17): it awaits a
// 20 ms timer, as a handler waiting on a downstream call would, and answers
// the id of the instance that ran it (drawn once, when the instance loads the
// module), so the bench can count the instances that served a run.
const instance = Math.random().toString(36).slice(2, 12);

export const handler = async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { instance };
};
