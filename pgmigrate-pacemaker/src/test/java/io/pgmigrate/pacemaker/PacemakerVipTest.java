package io.pgmigrate.pacemaker;

import io.pgmigrate.PgMigrateException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PacemakerVipTest {

    @Test
    void placementsOfDifferentKindsAreRefusedBecauseTheMoveWouldTakeTwoUpdates() {
        assertThatThrownBy(() -> PacemakerVip.builder("vip").source(PacemakerVip.Placement.node("a"))
                .target(PacemakerVip.Placement.resource("pg-new")).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("one change of one constraint");
    }

    @Test
    void idsThatCouldBreakTheXmlAreRefused() {
        assertThatThrownBy(() -> PacemakerVip.builder("vip\" rsc=\"other"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Pacemaker id");
        assertThatThrownBy(() -> PacemakerVip.Placement.node("a'b")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aFailingCommandNamesItselfItsExitCodeAndWhatItSaid() {
        assertThatThrownBy(() -> CommandRunner.local().run("sh", "-c", "echo 'no such resource' >&2; exit 6"))
                .isInstanceOf(PgMigrateException.class)
                .hasMessageContaining("sh -c")
                .hasMessageContaining("exit code 6")
                .hasMessageContaining("no such resource");
        assertThat(CommandRunner.local().withPrefix(List.of("env", "X=1")).run("sh", "-c", "echo $X").out())
                .isEqualTo("1");
        assertThatThrownBy(() -> CommandRunner.local().run("/nonexistent/crm_mon"))
                .hasMessageContaining("is Pacemaker installed");
    }
}
