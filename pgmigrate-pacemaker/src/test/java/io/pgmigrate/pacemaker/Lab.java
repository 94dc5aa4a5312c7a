package io.pgmigrate.pacemaker;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The two-host Pacemaker lab of {@code src/main/lab/pgmigrate-lab}, driven from tests: network namespaces
 * {@code pgmlab-a} and {@code pgmlab-b}, a two-node corosync + Pacemaker cluster, an IPaddr2 VIP, and a PostgreSQL
 * server on each host. Only addresses inside the lab's namespaces are used; the root namespace reaches them through a
 * route with a loopback source address.
 */
final class Lab implements AutoCloseable {

    /** The script, from the module directory (tests) or the project root ({@code mvn -Plab}). */
    static final Path SCRIPT = (Files.exists(Path.of("src/main/lab/pgmigrate-lab"))
            ? Path.of("src/main/lab/pgmigrate-lab") : Path.of("pgmigrate-pacemaker/src/main/lab/pgmigrate-lab"))
            .toAbsolutePath();
    private static final List<String> NEEDED = List.of("/usr/sbin/corosync", "/usr/sbin/pacemakerd",
            "/usr/sbin/crm_mon", "/usr/sbin/cibadmin", "/usr/lib/ocf/resource.d/heartbeat/IPaddr2", "/usr/bin/nsenter");

    private final Path dir;
    private final Map<String, String> facts;

    private Lab(Path dir, Map<String, String> facts) {
        this.dir = dir;
        this.facts = facts;
    }

    /** Why the lab cannot run here, or null when it can. */
    static String unavailable() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return "the Pacemaker lab needs root (network namespaces, corosync)";
        }
        for (String f : NEEDED) {
            if (!Files.isExecutable(Path.of(f))) {
                return f + " is missing: install Pacemaker with apt-get install -y --no-install-recommends pacemaker"
                        + " corosync crmsh resource-agents (.ci/run does)";
            }
        }
        return null;
    }

    static Lab up(Path dir, Path pgA, Path pgB) throws IOException, InterruptedException {
        run(dir, List.of("down"), 60); // a lab left over by a killed run
        String out = run(dir, List.of("up", "--pg-a", pgA.resolve("bin").toString(), "--pg-b",
                pgB.resolve("bin").toString()), 180);
        Map<String, String> facts = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                facts.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return new Lab(dir, facts);
    }

    /**
     * What Pacemaker on {@code node} logged about {@code resource}'s operations (start, stop, monitor, recovery), for a
     * failure message: the agent's own log cannot say why Pacemaker stopped or restarted it.
     */
    String pacemakerLogAbout(String node, String resource) {
        return grep(dir.resolve(node).resolve("var-log-pacemaker").resolve("pacemaker.log"),
                l -> l.contains(resource) && (l.contains("notice") || l.contains("warning") || l.contains("error")
                        || l.contains("crit")))
                + "\n" + grep(dir.resolve(node).resolve("var-log-corosync").resolve("corosync.log"),
                l -> l.contains("membership") || l.contains("Token has not been received") || l.contains("lost")
                        || l.contains("left"));
    }

    private static String grep(Path log, java.util.function.Predicate<String> keep) {
        try {
            if (!Files.exists(log)) {
                return "(no " + log + ")";
            }
            return String.join("\n", Files.readAllLines(log).stream().filter(keep).toList());
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    String get(String key) {
        String v = facts.get(key);
        if (v == null) {
            throw new IllegalStateException("the lab did not report " + key + ": " + facts);
        }
        return v;
    }

    /** Runs cluster tools on node {@code a} or {@code b}. */
    CommandRunner runner(String node) {
        return CommandRunner.local().withPrefix(List.of("env", "LAB_DIR=" + dir, SCRIPT.toString(), "exec", node));
    }

    String exec(String node, String... command) {
        return runner(node).run(command).out();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        // Pacemaker's and corosync's logs outlive the lab, for a look at what the cluster did and when.
        Path keep = Path.of("target", "lab-logs");
        for (String node : List.of("a", "b")) {
            for (String log : List.of("var-log-pacemaker/pacemaker.log", "var-log-corosync/corosync.log")) {
                Path from = dir.resolve(node).resolve(log);
                try {
                    if (Files.exists(from)) {
                        Files.createDirectories(keep);
                        Files.copy(from, keep.resolve(node + "-" + from.getFileName()),
                                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                } catch (IOException e) {
                    System.err.println("could not keep " + from + ": " + e); // the lab still goes down
                }
            }
        }
        run(dir, List.of("down"), 60);
    }

    private static String run(Path dir, List<String> args, int timeoutSeconds) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(SCRIPT.toString());
        cmd.addAll(args);
        Path err = Files.createTempFile("pgmigrate-lab", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err.toFile());
        pb.environment().put("LAB_DIR", dir.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("pgmigrate-lab " + String.join(" ", args) + " failed:\n"
                    + Files.readString(err) + out);
        }
        Files.deleteIfExists(err);
        return out;
    }
}
