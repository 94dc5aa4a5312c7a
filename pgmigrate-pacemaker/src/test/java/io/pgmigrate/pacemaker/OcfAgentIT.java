package io.pgmigrate.pacemaker;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The {@code pgmigrate} OCF agent's actions that need no cluster, run as Pacemaker runs them (environment variables
 * {@code OCF_ROOT}, {@code OCF_RESKEY_*}), with the OCF exit codes Pacemaker acts on.
 */
class OcfAgentIT {

    private static final Path AGENT = Path.of("src/main/ocf/pgmigrate").toAbsolutePath();
    private static final String CLASSPATH = Path.of("target/classes").toAbsolutePath() + ":"
            + Path.of("target/lib").toAbsolutePath() + "/*";

    @BeforeAll
    static void needsResourceAgents() {
        assumeTrue(Files.exists(Path.of("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs")),
                "skipped: /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs is missing: apt-get install resource-agents");
    }

    private record Run(int code, String out) {
    }

    private static Run agent(String action, Map<String, String> params) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("sh", AGENT.toString(), action).redirectErrorStream(true);
        pb.environment().put("OCF_ROOT", "/usr/lib/ocf");
        pb.environment().put("OCF_RESOURCE_INSTANCE", "pgm-test");
        params.forEach((k, v) -> pb.environment().put("OCF_RESKEY_" + k, v));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    @Test
    void metaDataIsWellFormedAndNamesTheParametersAndActions() throws Exception {
        Run r = agent("meta-data", Map.of());
        assertThat(r.code()).isZero();
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false); // ra-api-1.dtd
        var doc = f.newDocumentBuilder().parse(new ByteArrayInputStream(r.out().getBytes(StandardCharsets.UTF_8)));
        assertThat(doc.getDocumentElement().getAttribute("name")).isEqualTo("pgmigrate");
        assertThat(r.out()).contains("name=\"config\"", "name=\"classpath\"", "action name=\"monitor\"",
                "action name=\"validate-all\"");
    }

    @Test
    void validateAllTellsAMissingFromABadConfiguration(@TempDir Path dir) throws Exception {
        assertThat(agent("validate-all", Map.of("classpath", CLASSPATH)).code()).as("no config").isEqualTo(6);
        assertThat(agent("validate-all", Map.of("config", dir.resolve("none.properties").toString(),
                "classpath", CLASSPATH)).code()).as("unreadable config: OCF_ERR_INSTALLED").isEqualTo(5);

        Path secret = dir.resolve("secret.properties");
        Files.writeString(secret, "source=jdbc:postgresql://10.0.0.1/db\ntarget=jdbc:postgresql://10.0.0.2/\n"
                + "source.password=hunter2\n");
        Run bad = agent("validate-all", Map.of("config", secret.toString(), "classpath", CLASSPATH));
        assertThat(bad.code()).isEqualTo(6);
        assertThat(bad.out()).contains("passfile").doesNotContain("hunter2");

        Path good = dir.resolve("good.properties");
        Files.writeString(good, "name=shop\ndatabases=shop\nsource=jdbc:postgresql://10.0.0.1:5432/shop\n"
                + "target=jdbc:postgresql://10.0.0.2:5432/\nstateDirectory=" + dir + "\n");
        Path wrongKey = dir.resolve("wrong.properties");
        Files.writeString(wrongKey, "source=jdbc:postgresql://10.0.0.1/db\ntarget=jdbc:postgresql://10.0.0.2/\n"
                + "stateDirectory=" + dir + "\ncutover.timeout=30s\n");
        Run wrong = agent("validate-all", Map.of("config", wrongKey.toString(), "classpath", CLASSPATH));
        assertThat(wrong.code()).as(wrong.out()).isEqualTo(6);
        assertThat(wrong.out()).contains("unknown setting cutover.timeout");
        Run ok = agent("validate-all", Map.of("config", good.toString(), "classpath", CLASSPATH));
        assertThat(ok.code()).as(ok.out()).isZero();
    }

    @Test
    void monitorAndStopOfAResourceThatDoesNotRun(@TempDir Path dir) throws Exception {
        Map<String, String> params = Map.of("config", dir.resolve("x.properties").toString(), "run_dir",
                dir.toString(), "classpath", CLASSPATH);
        assertThat(agent("monitor", params).code()).as("OCF_NOT_RUNNING").isEqualTo(7);
        assertThat(agent("stop", params).code()).as("stopping what does not run succeeds").isZero();
    }
}
