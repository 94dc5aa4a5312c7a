package io.pgmigrate.pacemaker;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The CIB update that sets a node attribute on every node. */
class NodeAttributesTest {

    @Test
    void oneUpdateSetsTheValueOnEveryNodeAndAnyTextSurvivesAsItWas() {
        Map<String, String> sets = new LinkedHashMap<>();
        sets.put("1", "nodes-1");
        sets.put("2", "node-b-attributes"); // a set the node already had
        String value = "failed: \"orders\" <fenced> & 'then' undone";
        String xml = NodeAttributes.nodesXml(sets, "pgmigrate-cutover-result", value);

        List<Element> pairs = CibXml.elements(xml, "nvpair");
        assertThat(pairs).hasSize(2);
        assertThat(pairs).allSatisfy(p -> {
            assertThat(p.getAttribute("name")).isEqualTo("pgmigrate-cutover-result");
            assertThat(p.getAttribute("value")).isEqualTo(value);
        });
        assertThat(pairs.get(1).getAttribute("id")).isEqualTo("node-b-attributes-pgmigrate-cutover-result");
        assertThat(CibXml.elements(xml, "node")).extracting(n -> n.getAttribute("id")).containsExactly("1", "2");
    }

    @Test
    void charactersXmlCannotHoldBecomeQuestionMarks() {
        // an error message from a server can carry any text; cibadmin refuses &#1; and the like
        String xml = NodeAttributes.nodesXml(Map.of("1", "nodes-1"), "x", "a\u0001b\u0000c\td\uFFFEe \uD83D\uDE00");
        assertThat(xml).doesNotContain("&#1;").doesNotContain("&#0;");
        assertThat(CibXml.elements(xml, "nvpair").get(0).getAttribute("value")).isEqualTo("a?b?c\td?e \uD83D\uDE00");
    }

    @Test
    void aNameThatIsNotAnIdIsRefused() {
        assertThatThrownBy(() -> NodeAttributes.requireName("x']/../..//*[@name='y"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
