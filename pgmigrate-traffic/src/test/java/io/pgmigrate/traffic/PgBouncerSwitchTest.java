package io.pgmigrate.traffic;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What a {@link PgBouncerSwitch} refuses before it touches anything. */
class PgBouncerSwitchTest {

    @Test
    void anEntryWithAPasswordIsRefusedWithoutEchoingIt() {
        // pgmigrate writes the entries to a file PgBouncer reads: a password there would be a secret in a file.
        assertThatThrownBy(() -> PgBouncerSwitch.builder("127.0.0.1", 6432).database("shop",
                "host=10.0.0.1 dbname=shop", "host=10.0.0.2 dbname=shop PASSWORD = s3cr3t-value"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("password=")
                .hasMessageContaining("auth_file").hasMessageNotContaining("s3cr3t-value");
        assertThatThrownBy(() -> PgBouncerSwitch.builder("127.0.0.1", 6432).database("shop",
                "password=s3cr3t-value host=10.0.0.1", "host=10.0.0.2")).hasMessageNotContaining("s3cr3t-value");
        assertThatCode(() -> PgBouncerSwitch.builder("127.0.0.1", 6432).database("shop",
                "host=10.0.0.1 dbname=shop auth_user=pgbouncer", "host=10.0.0.2 dbname=shop auth_user=pgbouncer"))
                .doesNotThrowAnyException();
    }
}
