package io.pgmigrate.core.state;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class JsonTest {

    @Test
    void roundTripsNestedValuesAndOddStrings() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("name", "q\"uote\\ \n tab\t ünï \u0001");
        doc.put("n", 42L);
        doc.put("ok", true);
        doc.put("none", null);
        doc.put("list", List.of(1L, "two"));
        doc.put("nested", new LinkedHashMap<>(Map.of("x", 1.5)));
        assertThat(Json.parseObject(Json.write(doc))).isEqualTo(doc);
    }

    @Test
    void rejectsTruncatedDocuments() {
        assertThatThrownBy(() -> Json.parseObject("{\"a\": ")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Json.parseObject("[1]")).isInstanceOf(IllegalArgumentException.class);
    }
}
