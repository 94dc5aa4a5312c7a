package io.pgmigrate.pacemaker;

import io.pgmigrate.LeftBehind;
import io.pgmigrate.Migration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The agent's configuration file reaches the migration it builds. */
class AgentConfigTest {

    private static Path file(Path dir, String extra) throws Exception {
        Path f = dir.resolve("shop.properties");
        Files.writeString(f, "source=jdbc:postgresql://127.0.0.1:1/\ntarget=jdbc:postgresql://127.0.0.1:2/\n"
                + "databases=shop\nstateDirectory=" + dir.resolve("state") + "\n" + extra);
        return f;
    }

    @Test
    void dataTheOperatorAcceptsToLeaveBehindReachesTheCutoverSettings(@TempDir Path dir) throws Exception {
        AgentConfig config = AgentConfig.read(file(dir, "acceptLeftBehind=large_objects, Unlogged_Tables\n"));
        try (Migration m = config.migration(CommandRunner.local())) {
            assertThat(m.config().cutover().acceptedLeftBehind())
                    .containsExactlyInAnyOrder(LeftBehind.LARGE_OBJECTS, LeftBehind.UNLOGGED_TABLES);
        }
        try (Migration m = AgentConfig.read(file(dir, "")).migration(CommandRunner.local())) {
            assertThat(m.config().cutover().acceptedLeftBehind()).isEmpty();
        }
    }

    @Test
    void anUnknownKindIsRefusedNamingTheKnownOnes(@TempDir Path dir) throws Exception {
        AgentConfig config = AgentConfig.read(file(dir, "acceptLeftBehind=blobs\n"));
        assertThatThrownBy(() -> config.migration(CommandRunner.local()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("acceptLeftBehind=blobs").hasMessageContaining("LARGE_OBJECTS");
    }

    @Test
    void theAgentsOwnKeysAreCheckedAndTheVipBecomesTheTrafficSwitch(@TempDir Path dir) throws Exception {
        AgentConfig config = AgentConfig.read(file(dir, "pacemaker.vip=pg-vip\npacemaker.vip.source.node=a\n"
                + "pacemaker.vip.target.node=b\npacemaker.vip.timeout=45s\npacemaker.trigger=go\n"));
        assertThat(config.triggerAttribute()).isEqualTo("go");
        try (Migration m = config.migration(CommandRunner.local())) {
            assertThat(m.config().trafficSwitch().description()).contains("pg-vip");
        }
        assertThatThrownBy(() -> AgentConfig.read(file(dir, "pacemaker.vip.node=a\n")))
                .hasMessageContaining("unknown setting(s) [pacemaker.vip.node]");
        assertThatThrownBy(() -> AgentConfig.read(file(dir, "target.password=hunter2\n")))
                .hasMessageContaining("passfile").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> AgentConfig.read(file(dir, "source.property.sslpassword=hunter2\n")))
                .hasMessageContaining("passfile").hasMessageNotContaining("hunter2");
        Path inUrl = dir.resolve("url.properties");
        Files.writeString(inUrl, "source=jdbc:postgresql://127.0.0.1:1/?password=hunter2\n"
                + "target=jdbc:postgresql://127.0.0.1:2/\nstateDirectory=" + dir + "\n");
        assertThatThrownBy(() -> AgentConfig.read(inUrl)).hasMessageContaining("passfile")
                .hasMessageNotContaining("hunter2");
    }

    @Test
    void theAgentNeedsItsJournalWhereEveryNodeReadsIt(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("nowhere.properties");
        Files.writeString(f, "source=jdbc:postgresql://127.0.0.1:1/\ntarget=jdbc:postgresql://127.0.0.1:2/\n");
        assertThatThrownBy(() -> AgentConfig.read(f)).hasMessageContaining("pacemaker.state=cib")
                .hasMessageContaining("stateDirectory");
        Files.writeString(f, "source=jdbc:postgresql://127.0.0.1:1/\ntarget=jdbc:postgresql://127.0.0.1:2/\n"
                + "databases=shop\npacemaker.state=cib\n");
        try (Migration m = AgentConfig.read(f).migration(CommandRunner.local())) {
            assertThat(m.config().stateStore()).isInstanceOf(CibStateStore.class);
        }
    }
}
