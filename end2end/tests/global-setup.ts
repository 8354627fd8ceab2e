import { cluster } from "./cluster";

export default function globalSetup() {
  cluster.run("down");
  cluster.run("up", String(cluster.size));
}
