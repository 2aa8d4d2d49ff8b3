// The JavaScript hello job: `greet` and `add`, with positional or named
// arguments, a parameter with a default, and an error that is permanent.
//
// Build: npx wasync-js build jobs-examples/js-hello -o hello.wasm
// Run:   wasync run hello.wasm greet '["Ada"]'

import { JobFailure, jobs } from "@wasync/job";

function greet(name, greeting = "Hello") {
  console.log(`greeting ${name}`);
  return `${greeting}, ${name}!`;
}

function add(a, b = 1) {
  return a + b;
}

function divide(a, b) {
  if (b === 0) throw new RangeError("division by zero");
  return a / b;
}

function checkOrder(order) {
  if (!/^\d+$/.test(order)) {
    throw new JobFailure("invalid-order", `order id '${order}' is not a number`, { permanent: true });
  }
  return order;
}

jobs({ greet, add, divide, check_order: checkOrder });
