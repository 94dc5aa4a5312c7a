package io.pgmigrate.testkit.internal;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SqlIdentifierTest {

    @Test
    void quotesAreDoubledSoAnyTextStaysAName() {
        assertThat(SqlIdentifier.quote("x\"; DROP TABLE y; --")).isEqualTo("\"x\"\"; DROP TABLE y; --\"");
        assertThat(SqlIdentifier.quote("Shop")).isEqualTo("\"Shop\"");
    }

    @Test
    void namesPostgresWouldTruncateOrCannotHoldAreRejected() {
        assertThat(SqlIdentifier.quote("a".repeat(63))).hasSize(65);
        assertThatThrownBy(() -> SqlIdentifier.quote("a".repeat(64)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("64 bytes");
        assertThatThrownBy(() -> SqlIdentifier.quote("é".repeat(32))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> SqlIdentifier.quote("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> SqlIdentifier.quote("a\0b")).isInstanceOf(IllegalArgumentException.class);
    }
}
