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
}
