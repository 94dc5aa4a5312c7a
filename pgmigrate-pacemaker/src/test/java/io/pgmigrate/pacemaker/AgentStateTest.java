package io.pgmigrate.pacemaker;

import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Lsn;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How the agent's supervisor reads a status into the state its OCF monitor reports. */
class AgentStateTest {

    @Test
    void aMoveThatNothingDrivesIsAFailureNotRunning() {
        // Read between the supervisor's own calls: a pending cutover there is one whose undo failed, with a side
        // fenced (review F7). Running would leave it so; failed makes Pacemaker restart the resource, which ends it.
        assertThatThrownBy(() -> AgentMain.state(status(Phase.STREAMING, Phase.CUTTING_OVER)))
                .isInstanceOf(PgMigrateException.class).hasMessageContaining("pending");
    }

    @Test
    void streamingWithinTheLagBoundIsInSyncAndAllCutOverIsCutOver() {
        assertThat(AgentMain.state(status(Phase.STREAMING, Phase.STREAMING))).isEqualTo("IN_SYNC");
        assertThat(AgentMain.state(status(Phase.CUT_OVER, Phase.CUT_OVER))).isEqualTo("CUT_OVER");
        assertThat(AgentMain.state(status(Phase.COPYING, Phase.STREAMING))).isEqualTo("RUNNING");
    }

    private static MigrationStatus status(Phase... phases) {
        List<DatabaseStatus> dbs = new java.util.ArrayList<>();
        for (int i = 0; i < phases.length; i++) {
            dbs.add(new DatabaseStatus("db" + i, phases[i], Lsn.ZERO, Lsn.ZERO, 0, Duration.ZERO, List.of(), ""));
        }
        return new MigrationStatus("m", Instant.now(), dbs);
    }
}
