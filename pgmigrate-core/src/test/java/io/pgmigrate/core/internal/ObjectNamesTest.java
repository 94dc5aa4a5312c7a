package io.pgmigrate.core.internal;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class ObjectNamesTest {

    private final ObjectNames names = new ObjectNames("shop18");

    @Test
    void plainNamesFollowTheDesignPattern() {
        assertThat(names.publication("shop")).isEqualTo("pgmigrate_shop18_shop_pub");
        assertThat(names.subscription("shop")).isEqualTo("pgmigrate_shop18_shop_sub");
        assertThat(names.slot("shop")).isEqualTo("pgmigrate_shop18_shop_slot");
    }

    @Test
    void oddDatabaseNamesBecomeValidSlotNamesThatStayDistinct() {
        String a = names.slot("Shop DB\"; DROP TABLE y; --");
        String b = names.slot("shop_db___drop_table_y____");
        assertThat(a).matches("[a-z0-9_]+").isNotEqualTo(b);
        assertThat(names.slot("Ärger")).matches("[a-z0-9_]+");
    }

    @Test
    void longNamesAreHashedToAtMostSixtyThreeBytes() {
        ObjectNames longest = new ObjectNames("a".repeat(24));
        String db = "x".repeat(63);
        String slot = longest.slot(db);
        assertThat(slot.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(63);
        assertThat(slot).endsWith("_slot").startsWith(longest.prefix());
        assertThat(longest.slot(db)).isEqualTo(slot);
        assertThat(longest.slot("x".repeat(62) + "y")).isNotEqualTo(slot);
    }
}
