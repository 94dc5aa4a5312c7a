package io.pgmigrate.micrometer;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class MigrationMetricsTest {

    @Test
    void aStepTagLeavesOutWhatTheStepAddsInBrackets() {
        assertThat(MigrationMetrics.stepName("traffic switch (PgBouncer 127.0.0.1:6432 (shop))"))
                .isEqualTo("traffic switch");
        assertThat(MigrationMetrics.stepName("verify (12 ranges of 3 tables equal)")).isEqualTo("verify");
        assertThat(MigrationMetrics.stepName("fence source")).isEqualTo("fence source");
    }

    @Test
    void aCounterOnlyGrowsAcrossRestartsAndUnknownReadings() {
        MigrationMetrics.Monotonic errors = new MigrationMetrics.Monotonic();
        errors.add(3);   // first reading: counting starts here
        errors.add(5);   // +2
        errors.add(-1);  // unknown (paused): nothing
        errors.add(1);   // the stream started again from 0: +1
        errors.add(4);   // +3
        assertThat(errors.total()).isEqualTo(6);
    }
}
