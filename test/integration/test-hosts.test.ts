import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { repoDir } from "../helpers/engine";
import { processAlive, waitFor } from "../helpers/sandbox";
import { bootTestHosts, reapStaleTestHosts } from "../helpers/testHosts";

const mounted = (dir: string) => fs.readFileSync("/proc/mounts", "utf8").includes(` ${dir} `);
const namespaces = () =>
  spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((line) => line.split(" ")[0])
    .filter(Boolean);

describe("booted test hosts", () => {
  it("are separate hosts on a private network, and teardown leaves no mount, namespace or process", async () => {
    const network = await bootTestHosts([
      { name: "alpha", postgres: false },
      { name: "beta", postgres: false },
    ]);
    const [alpha, beta] = network.hosts;
    // this network's namespaces (other test files boot hosts of their own meanwhile): drkit-<its id>-<n>
    const id = /drkit-hosts-([0-9a-f]+)-/.exec(alpha.root)![1];
    const made = namespaces().filter((n) => n.startsWith(`drkit-${id}-`));
    expect(made).toHaveLength(2);
    try {
      expect((await alpha.ssh("hostname")).stdout.trim()).toBe("alpha");
      expect((await beta.ssh("systemctl is-system-running")).stdout.trim()).toBe("running");
      // each host has its own SSH key, and the pinned known_hosts refuses a host under another's name
      expect(alpha.hostKey).not.toBe(beta.hostKey);
      const reach = await alpha.exec(`timeout 5 bash -c '</dev/tcp/${beta.address}/22' && echo open`);
      expect(reach.stdout.trim()).toBe("open");
      // no route anywhere but the test network
      expect((await alpha.exec("ip route")).stdout.trim().split("\n")).toHaveLength(1);
    } finally {
      network.teardown();
    }
    expect(mounted(alpha.root)).toBe(false);
    expect(namespaces().filter((n) => made.includes(n))).toEqual([]);
    expect(spawnSync("pgrep", ["-f", "--", `-D ${alpha.root}`]).status).toBe(1);
  });

  /** Boots one host in a process of its own (its own process group); its pid and the host's root. */
  const bootOrphan = async () => {
    const child = spawn(
      "npx",
      [
        "tsx",
        "-e",
        `import { bootTestHosts } from "./test/helpers/testHosts";
         bootTestHosts([{ name: "orphan", postgres: false }]).then((n) => {
           console.log(JSON.stringify({ root: n.hosts[0].root, pid: process.pid }));
           setInterval(() => {}, 1000);
         });`,
      ],
      { cwd: repoDir, stdio: ["ignore", "pipe", "inherit"], detached: true },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const booted = await waitFor("the orphan host to boot", () => (out.includes("\n") ? out.trim() : undefined), 120);
    const { root, pid } = JSON.parse(booted) as { root: string; pid: number };
    expect(mounted(root)).toBe(true);
    return { group: child.pid!, root, pid };
  };
  const watchdogOf = (pid: number) =>
    spawnSync("pgrep", ["-f", `testHostsWatchdog.ts ${pid}$`], { encoding: "utf8" }).stdout.trim();
  const gone = (root: string) => {
    expect(mounted(root)).toBe(false);
    expect(spawnSync("pgrep", ["-f", "--", `-D ${root}`]).status).toBe(1);
    expect(fs.existsSync(root)).toBe(false);
  };

  it("of a killed test process are removed by its watchdog", async () => {
    const orphan = await bootOrphan();
    const watchdog = watchdogOf(orphan.pid);
    expect(watchdog).toMatch(/^\d+$/);
    process.kill(-orphan.group, "SIGKILL");
    // killed: no exit handler ran; the watchdog sees the process gone and removes its host
    await waitFor(
      "the watchdog to remove the orphan host",
      () => (mounted(orphan.root) || fs.existsSync(orphan.root) ? undefined : true),
      60,
    );
    gone(orphan.root);
    await waitFor("the watchdog to exit", () => (watchdogOf(orphan.pid) ? undefined : true), 30);
  });

  it("left behind by a killed test process and its watchdog are removed by the next run's reaper", async () => {
    const orphan = await bootOrphan();
    process.kill(Number(watchdogOf(orphan.pid)), "SIGKILL");
    process.kill(-orphan.group, "SIGKILL");
    await waitFor("the booting process to be gone", () => (processAlive(orphan.pid) ? undefined : true));
    // no exit handler, no watchdog: the host is there until a reaper (this one, or another run's) removes it
    reapStaleTestHosts();
    gone(orphan.root);
  });
});
