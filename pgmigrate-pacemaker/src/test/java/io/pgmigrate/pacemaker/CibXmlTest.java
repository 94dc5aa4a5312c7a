package io.pgmigrate.pacemaker;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Reading what Pacemaker's tools print, with the JDK's XML parser instead of regular expressions. */
class CibXmlTest {

    @Test
    void aGroupsResourcesAndTheirNodesAreReadWhateverTheAttributeOrder() {
        String crmMon = """
                <?xml version="1.0"?>
                <pacemaker-result api-version="2.30" request="crm_mon --one-shot --output-as=xml">
                  <resources>
                    <group id="pg-vip-group" number_resources="2" maintenance="false" managed="true" disabled="false">
                      <resource id="pg-vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true"
                                failed="false" nodes_running_on="1">
                        <node name="db-new-1" id="2" cached="true"/>
                      </resource>
                      <resource failed="true" role="Started" id="pg-arp" resource_agent="ocf:heartbeat:SendArp">
                        <node id="2" name="db-new-1" cached="true"/>
                      </resource>
                    </group>
                  </resources>
                  <status code="0" message="OK"/>
                </pacemaker-result>
                """;
        var resources = CibXml.elements(crmMon, "resource");
        assertThat(resources).extracting(e -> e.getAttribute("id")).containsExactly("pg-vip", "pg-arp");
        assertThat(resources).extracting(e -> e.getAttribute("failed")).containsExactly("false", "true");
        Element first = resources.get(0);
        assertThat(CibXml.elements(first, "node")).extracting(e -> e.getAttribute("name")).containsExactly("db-new-1");
    }

    @Test
    void severalXpathMatchesPrintedOneAfterAnotherAreAllRead() {
        String cibadmin = """
                <nvpair id="status-1-pgmigrate-cutover" name="pgmigrate-cutover" value="done"/>
                <nvpair id="status-2-pgmigrate-cutover" name="pgmigrate-cutover" value="start"/>
                """;
        assertThat(CibXml.elements(cibadmin, "nvpair")).extracting(e -> e.getAttribute("value"))
                .containsExactly("done", "start");
    }

    @Test
    void aDocumentTypeIsRefusedSoNoEntityIsExpanded() {
        String hostile = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><nvpair value=\"&x;\"/>";
        assertThatThrownBy(() -> CibXml.elements(hostile, "nvpair")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot be read");
    }
}
