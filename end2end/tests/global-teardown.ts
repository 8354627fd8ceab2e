import { cluster } from "./cluster";

export default function globalTeardown() {
  cluster.run("down");
}
