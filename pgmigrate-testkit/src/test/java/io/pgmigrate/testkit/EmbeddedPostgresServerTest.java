package io.pgmigrate.testkit;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Builder checks that need no server. */
class EmbeddedPostgresServerTest {

    @Test
    void unsupportedMajorIsRejectedAtOnce() {
        assertThatThrownBy(() -> EmbeddedPostgresServer.builder().major(11))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[12, 13, 14, 15, 16, 17, 18]");
    }

    @Test
    void startingWithoutAMajorIsAnError() {
        assertThatThrownBy(() -> EmbeddedPostgresServer.builder().start())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("major(...)");
    }

    @Test
    void aSuperuserPasswordMustBeOneLineAndIsSetOnce() {
        EmbeddedPostgresServer.Builder b = EmbeddedPostgresServer.builder();
        assertThatThrownBy(() -> b.superuserPassword("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> b.superuserPassword("a\nb")).isInstanceOf(IllegalArgumentException.class);
        b.superuserPassword("secret");
        assertThatThrownBy(() -> b.superuserPassword("other")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already set");
    }

    @Test
    void settingNamesAndValuesAreChecked() {
        EmbeddedPostgresServer.Builder b = EmbeddedPostgresServer.builder();
        assertThatThrownBy(() -> b.config("work mem", "1MB")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> b.config("work_mem", "1MB\nfsync=on")).isInstanceOf(IllegalArgumentException.class);
        assertThatCode(() -> b.config("log_line_prefix", "%m [%p] it's fine; $(true) ")).doesNotThrowAnyException();
    }

    @Test
    void settingsZonkyPutsOnTheCommandLineMustBeShellSafe() {
        EmbeddedPostgresServer.Builder b = EmbeddedPostgresServer.builder();
        assertThatThrownBy(() -> b.config("TimeZone", "UTC; touch /tmp/x"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("TimeZone");
        assertThatCode(() -> b.config("timezone", "America/New_York").config("max_connections", "50"))
                .doesNotThrowAnyException();
    }
}
