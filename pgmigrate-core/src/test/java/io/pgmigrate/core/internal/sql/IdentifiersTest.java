package io.pgmigrate.core.internal.sql;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class IdentifiersTest {

    @Test
    void quotesEmbeddedDoubleQuotes() {
        assertThat(Identifiers.quote("x\"; DROP TABLE y; --")).isEqualTo("\"x\"\"; DROP TABLE y; --\"");
        assertThat(Identifiers.quote("Mixed Case", "t")).isEqualTo("\"Mixed Case\".\"t\"");
    }

    @Test
    void literalDoublesSingleQuotes() {
        assertThat(Identifiers.literal("it's \\ fine")).isEqualTo("'it''s \\ fine'");
    }

    @Test
    void conninfoValuesEscapeBackslashAndQuote() {
        assertThat(Identifiers.conninfoValue("p'a\\ss w")).isEqualTo("'p\\'a\\\\ss w'");
    }

    @Test
    void emptyAndNulAreRejected() {
        assertThatThrownBy(() -> Identifiers.quote("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Identifiers.quote("a\0b")).isInstanceOf(IllegalArgumentException.class);
    }
}
