package io.pgmigrate.pacemaker;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.testkit.PostgresBinaries;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Against a real Pacemaker: two hosts as network namespaces, PostgreSQL 14 on host A (the source) and 18 on host B
 * (the target), a two-node cluster with one node per host, and an IPaddr2 VIP that starts on host A. A client in the
 * root namespace reaches PostgreSQL only through the VIP.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class PacemakerLabIT {

    private static final Pattern EPOCH = Pattern.compile("<cib [^>]*\\bepoch=\"(\\d+)\"");
    private static Lab lab;
    private static Path work;

    @BeforeAll
    static void startLab() throws Exception {
        String why = Lab.unavailable();
        assumeTrue(why == null, () -> "skipped: " + why);
        work = Files.createTempDirectory(Path.of("/tmp"), "pgmigrate-pacemaker-it",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        lab = Lab.up(work.resolve("lab"), PostgresBinaries.forMajor(14).installDirectory(),
                PostgresBinaries.forMajor(18).installDirectory());
    }

    @AfterAll
    static void stopLab() throws Exception {
        if (lab != null) {
            lab.close();
        }
    }

    private static String url(String host, String db) {
        return "jdbc:postgresql://" + host + ":5432/" + db + "?user=postgres";
    }

    private static String vipUrl(String db) {
        return url(lab.get("VIP"), db);
    }

    private static void sql(String host, String db, String... statements) throws SQLException {
        try (Connection c = VipWriters.connect(url(host, db)); Statement s = c.createStatement()) {
            for (String st : statements) {
                s.execute(st);
            }
        }
    }

    /** The CIB's configuration version: one more for every configuration update. */
    private static long cibEpoch() {
        Matcher m = EPOCH.matcher(lab.runner("a").run("cibadmin", "--query").stdout());
        assertThat(m.find()).isTrue();
        return Long.parseLong(m.group(1));
    }

    @Test
    @Order(1)
    void theVipMovesInOneCibUpdateAtCutoverAndBackAtRollbackWithNothingLost() throws Exception {
        String a = lab.get("PG_A_HOST");
        String b = lab.get("PG_B_HOST");
        sql(a, "postgres", "CREATE DATABASE shop");
        sql(a, "shop", VipWriters.TABLE);
        assertThat(VipWriters.text(vipUrl("shop"), "SELECT current_setting('cluster_name')"))
                .as("before the cutover the VIP lands on the source").isEqualTo("pgmlab-a");

        PacemakerVip vip = PacemakerVip.builder(lab.get("VIP_RESOURCE")).runner(lab.runner("a"))
                .source(PacemakerVip.Placement.node(lab.get("NODE_A")))
                .target(PacemakerVip.Placement.node(lab.get("NODE_B"))).build();
        vip.prepare();
        try (Migration m = Migration.builder().name("vip").source(Endpoint.of(url(a, "shop")))
                .target(Endpoint.of(url(b, "postgres"))).databases("shop").trafficSwitch(vip)
                .stateDirectory(work.resolve("state-vip")).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            CutoverReport report;
            long epochBefore;
            long epochAfter;
            VipWriters writers = new VipWriters(vipUrl("shop"), 4);
            try (writers) {
                writers.awaitMoreCommits(200);
                epochBefore = cibEpoch();
                report = m.cutover();
                epochAfter = cibEpoch();
                writers.awaitMoreCommits(200);
            }
            System.out.println(report.toText());
            assertThat(report.succeeded()).isTrue();
            assertThat(epochAfter - epochBefore).as("one configuration change moved the VIP").isEqualTo(1);
            assertThat(vip.runningOn()).containsExactly(lab.get("NODE_B"));
            assertThat(VipWriters.text(vipUrl("shop"), "SELECT current_setting('cluster_name')"))
                    .as("after the cutover the VIP lands on the target").isEqualTo("pgmlab-b");
            assertThat(VipWriters.keys(url(b, "shop"))).as("every commit a client saw is on the target")
                    .containsAll(writers.confirmed());

            VipWriters again = new VipWriters(vipUrl("shop"), 4);
            try (again) {
                again.awaitMoreCommits(100);
                assertThat(m.rollback().succeeded()).isTrue();
                again.awaitMoreCommits(100);
            }
            assertThat(vip.runningOn()).containsExactly(lab.get("NODE_A"));
            assertThat(VipWriters.text(vipUrl("shop"), "SELECT current_setting('cluster_name')")).isEqualTo("pgmlab-a");
            assertThat(VipWriters.keys(url(a, "shop"))).as("the target's writes came back with the rollback")
                    .containsAll(writers.confirmed()).containsAll(again.confirmed());
            m.complete();
        } finally {
            vip.release();
        }
    }

    @Test
    @Order(2)
    void theResourceAgentRunsTheMigrationThroughStopAndStartAndTheAttributeTriggersTheCutover() throws Exception {
        String a = lab.get("PG_A_HOST");
        String b = lab.get("PG_B_HOST");
        sql(a, "postgres", "CREATE DATABASE crm");
        sql(a, "crm", VipWriters.TABLE);
        assertThat(VipWriters.text(vipUrl("crm"), "SELECT current_setting('cluster_name')")).isEqualTo("pgmlab-a");

        Path agentDir = Path.of(lab.get("OCF_AGENT_DIR"));
        Files.createDirectories(agentDir);
        Path agent = agentDir.resolve("pgmigrate");
        Files.copy(Path.of("src/main/ocf/pgmigrate"), agent, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(agent, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path config = work.resolve("agent.properties");
        Files.writeString(config, String.join("\n",
                "name=agent",
                "databases=crm",
                "source=" + url(a, "crm"),
                "target=" + url(b, "postgres"),
                "pacemaker.state=cib",
                "pacemaker.vip=" + lab.get("VIP_RESOURCE"),
                "pacemaker.vip.source.node=" + lab.get("NODE_A"),
                "pacemaker.vip.target.node=" + lab.get("NODE_B"), ""));
        Path run = work.resolve("run");
        Files.createDirectories(run);
        String classpath = Path.of("target/classes").toAbsolutePath() + ":" + Path.of("target/lib").toAbsolutePath()
                + "/*";
        String rsc = "pgm-agent";
        lab.exec("a", "cibadmin", "--create", "--scope", "resources", "--xml-text", """
                <primitive id="%s" class="ocf" provider="pgmigrate" type="pgmigrate">
                  <instance_attributes id="%s-ia">
                    <nvpair id="%s-config" name="config" value="%s"/>
                    <nvpair id="%s-classpath" name="classpath" value="%s"/>
                    <nvpair id="%s-run_dir" name="run_dir" value="%s"/>
                  </instance_attributes>
                  <meta_attributes id="%s-meta">
                    <nvpair id="%s-stickiness" name="resource-stickiness" value="INFINITY"/>
                  </meta_attributes>
                  <operations>
                    <op id="%s-monitor" name="monitor" interval="2s" timeout="30s"/>
                    <op id="%s-start" name="start" interval="0" timeout="120s"/>
                    <op id="%s-stop" name="stop" interval="0" timeout="120s"/>
                  </operations>
                </primitive>""".formatted(rsc, rsc, rsc, config, rsc, classpath, rsc, run, rsc, rsc, rsc, rsc, rsc));
        // With stickiness, the VIP's move cannot make the cluster move the migration in the same transition (it did:
        // the cutover's VIP step then took 2 s); the agent warns about a resource without it (the lab's default is 0).
        assertThat(AgentMain.stickinessWarning(lab.runner("a"), rsc)).isEmpty();
        assertThat(AgentMain.stickinessWarning(lab.runner("a"), lab.get("VIP_RESOURCE")))
                .hasValueSatisfying(w -> assertThat(w).contains("resource-stickiness is 0"));
        Path status = run.resolve(rsc + ".status");
        VipWriters writers = new VipWriters(vipUrl("crm"), 3);
        try (writers) {
            awaitState(status, "IN_SYNC", Duration.ofMinutes(2));
            writers.awaitMoreCommits(100);

            // Pacemaker stops the migration: the stream pauses, nothing is dropped, the application goes on.
            setTargetRole(rsc, "Stopped");
            awaitState(status, "STOPPED", Duration.ofMinutes(1));
            assertThat(VipWriters.text(url(b, "crm"), "SELECT count(*) FROM pg_subscription WHERE subenabled"))
                    .as("paused while stopped").isEqualTo("0");
            writers.awaitMoreCommits(100);
            // ... and starts it again: it resumes where it stopped.
            setTargetRole(rsc, "Started");
            awaitState(status, "IN_SYNC", Duration.ofMinutes(2));
            writers.awaitMoreCommits(100);

            // The operator asks for the cutover through the cluster, on either node.
            lab.exec("b", "crm_attribute", "--name", "pgmigrate-cutover", "--update", "start", "--lifetime", "reboot");
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (!"done".equals(result()) && System.nanoTime() < deadline) {
                Thread.sleep(200);
            }
            // On failure, why: the agent's log, and what Pacemaker did to the resource meanwhile.
            assertThat(result()).as(() -> "the cutover's result; agent log:\n" + agentLog(status)
                    + "\nPacemaker on a:\n" + lab.pacemakerLogAbout("a", rsc)
                    + "\nPacemaker on b:\n" + lab.pacemakerLogAbout("b", rsc)).isEqualTo("done");
            // the agent's cutover, step by step (its journal lives in the CIB: every save is a CIB update)
            agentLog(status).lines().filter(l -> l.contains(" ms")).forEach(l -> System.out.println("agent: " + l));
            writers.awaitMoreCommits(100);
        }
        assertThat(VipWriters.text(vipUrl("crm"), "SELECT current_setting('cluster_name')")).isEqualTo("pgmlab-b");
        assertThat(VipWriters.keys(url(b, "crm"))).as("every commit a client saw is on the target")
                .containsAll(writers.confirmed());
        // Its work done, the resource asked Pacemaker to stop it, and the stop left the reverse stream running.
        awaitState(status, "STOPPED", Duration.ofMinutes(1));
        assertThat(lab.exec("a", "crm_resource", "--resource", rsc, "--meta", "--get-parameter", "target-role"))
                .isEqualTo("Stopped");
        assertThat(VipWriters.text(url(a, "crm"), "SELECT count(*) FROM pg_subscription WHERE subenabled"))
                .as("the reverse stream keeps the source in step for a rollback").isEqualTo("1");

        // Neither the journal nor the trigger's result is a cluster property: every change of one stalled the cluster
        // for about 2 s, and the VIP's move with it.
        CommandRunner.Result properties = lab.runner("a").attempt(List.of("cibadmin", "--query", "--xpath",
                "//crm_config//nvpair[starts-with(@name, 'pgmigrate')]"));
        assertThat(properties.exitCode()).as("no such property: " + properties.stdout())
                .isEqualTo(PacemakerVip.NO_SUCH_OBJECT);
        assertThat(lab.exec("b", "cibadmin", "--query", "--xpath", "//nodes//nvpair[@name='pgmigrate-state-agent']"))
                .as("the journal, on every node").contains("nodes-1-pgmigrate-state-agent")
                .contains("nodes-2-pgmigrate-state-agent");

        // Clean up through the same configuration, with the state read from the CIB.
        try (Migration m = AgentConfig.read(config).migration(lab.runner("a"))) {
            assertThat(m.rollback().succeeded()).isTrue();
            m.complete();
        }
        lab.exec("a", "cibadmin", "--delete", "--scope", "resources", "--xml-text", "<primitive id=\"" + rsc + "\"/>");
        lab.exec("a", "cibadmin", "--delete-all", "--force", "--xpath",
                "//nodes//nvpair[@name='pgmigrate-cutover-result']");
        lab.exec("b", "crm_attribute", "--name", "pgmigrate-cutover", "--delete", "--lifetime", "reboot");
        PacemakerVip.builder(lab.get("VIP_RESOURCE")).runner(lab.runner("a"))
                .source(PacemakerVip.Placement.node(lab.get("NODE_A")))
                .target(PacemakerVip.Placement.node(lab.get("NODE_B"))).build().release();
    }

    @Test
    @Order(3)
    void aVipThatDoesNotStartWhereAskedIsPutBackAndTheSwitchFails() {
        PacemakerVip vip = PacemakerVip.builder(lab.get("VIP_RESOURCE")).runner(lab.runner("a"))
                .source(PacemakerVip.Placement.node(lab.get("NODE_A")))
                .target(PacemakerVip.Placement.node("pgmlab-nowhere")) // not a node of this cluster
                .startTimeout(Duration.ofSeconds(3)).build();
        try {
            vip.prepare();
            assertThatThrownBy(() -> vip.switchTo(Side.TARGET)).isInstanceOf(PgMigrateException.class)
                    .hasMessageContaining("did not start on node pgmlab-nowhere within 3000 ms")
                    .satisfies(e -> assertThat(((PgMigrateException) e).code())
                            .isEqualTo(PacemakerErrorCode.CLUSTER_COMMAND_FAILED));
            assertThat(vip.runningOn()).as("traffic stays where it was").containsExactly(lab.get("NODE_A"));
            assertThat(lab.exec("a", "cibadmin", "--query", "--xpath",
                    "//rsc_location[@id='pgmigrate-" + lab.get("VIP_RESOURCE") + "-placement']"))
                    .as("the constraint is back on the source's node").contains("node=\"" + lab.get("NODE_A") + "\"");
        } finally {
            vip.release();
        }
    }

    private static String result() {
        // as an operator reads it, on either node
        CommandRunner.Result r = lab.runner("a").attempt(List.of("crm_attribute", "--type", "nodes", "--node",
                lab.get("NODE_A"), "--name", "pgmigrate-cutover-result", "--query", "--quiet"));
        return r.exitCode() == 0 ? r.out() : "";
    }

    private static void setTargetRole(String rsc, String role) {
        lab.exec("a", "crm_resource", "--resource", rsc, "--meta", "--set-parameter", "target-role",
                "--parameter-value", role);
    }

    private static String agentLog(Path status) {
        Path log = status.resolveSibling(status.getFileName().toString().replace(".status", ".log"));
        try {
            return Files.exists(log) ? Files.readString(log) : "(none)";
        } catch (java.io.IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    private static void awaitState(Path status, String state, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            if (Files.exists(status)) {
                last = Files.readString(status);
                if (last.contains("state=" + state + "\n")) {
                    return;
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("the agent did not reach " + state + "; last status:\n" + last + "\nlog:\n"
                + (Files.exists(status.resolveSibling(status.getFileName().toString().replace(".status", ".log")))
                ? Files.readString(status.resolveSibling(status.getFileName().toString().replace(".status", ".log")))
                : "(none)"));
    }
}
