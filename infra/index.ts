import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { drStack } from "../components/drStack";
import { buildPlan } from "../components/plan/plan";

const config = new pulumi.Config("drkit");
// Validate everything before any resource is registered: a bad field fails the whole preview.
const plan = buildPlan(
  {
    hosts: config.getObject("hosts"),
    services: config.getObject("services"),
    objectStores: config.getObject("objectStores"),
  },
  { baseDir: path.resolve(__dirname, "..") },
);

const services = drStack(plan);

export const backups = Object.fromEntries(
  services.map((s, i) => [
    plan.services[i].name,
    {
      backupRoot: s.backupRoot,
      archiveTimeoutSeconds: s.archiveTimeoutSeconds,
      timers: s.timers,
      restorePitrScript: s.restorePitrScript,
    },
  ]),
);
