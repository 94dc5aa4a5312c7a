package io.pgmigrate.pacemaker;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

/**
 * Values pgmigrate keeps in the cluster's configuration, as permanent node attributes: one copy on every node of the
 * CIB's {@code nodes} section, all written by one {@code cibadmin --modify}, so every node reads the same value and a
 * write is all or nothing.
 *
 * <p>Not cluster properties ({@code crm_config}): on Pacemaker 2.1 every change there makes the DC's controller re-read
 * the cluster options, which stalled it for about 2 s in the lab; a VIP move asked for meanwhile waited that long.
 * A node attribute is read by the scheduler like any configuration, but changes nothing the controller waits on (the
 * VIP moved in 0.2 to 0.3 s right after one, as without it).
 */
final class NodeAttributes {

    private final CommandRunner runner;
    /** The nodes' ids and the id of the attribute set each copy goes in; read at the first write. */
    private Map<String, String> sets;

    NodeAttributes(CommandRunner runner) {
        this.runner = runner;
    }

    static String requireName(String name) {
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9_.-]*")) {
            throw new IllegalArgumentException("a node attribute name is letters, digits, _ . -, was '" + name + "'");
        }
        return name;
    }

    /** The value of {@code name}, empty when no node carries it. */
    Optional<String> get(String name) {
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--query", "--xpath", xpath(name)));
        if (r.exitCode() == PacemakerVip.NO_SUCH_OBJECT) {
            return Optional.empty();
        }
        if (r.exitCode() != 0) {
            throw failed("reading", name, r);
        }
        List<String> copies = CibXml.elements(r.stdout(), "nvpair").stream().map(e -> e.getAttribute("value"))
                .distinct().toList();
        if (copies.size() > 1) {
            // Every write sets all copies at once: different ones were written by something else.
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "the node attribute " + name + " has "
                    + copies.size() + " different values on the nodes, and pgmigrate writes them all at once; delete"
                    + " the wrong ones (cibadmin --query --scope nodes shows them)");
        }
        return copies.stream().findFirst();
    }

    /** Sets {@code name} to {@code value} on every node, in one CIB update. */
    void set(String name, String value) {
        if (sets == null) {
            sets = readSets();
        }
        // Not runner.run(): its error would quote the whole command line, the value included.
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--modify", "--scope", "nodes", "--xml-text",
                nodesXml(sets, name, value)));
        if (r.exitCode() != 0) {
            sets = null; // a node removed since: read them again next time
            throw failed("writing", name, r);
        }
    }

    /** Removes {@code name} from every node. */
    void delete(String name) {
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--delete-all", "--force", "--xpath",
                xpath(name)));
        if (r.exitCode() != 0 && r.exitCode() != PacemakerVip.NO_SUCH_OBJECT) {
            throw failed("deleting", name, r);
        }
    }

    private static String xpath(String name) {
        return "//configuration/nodes/node/instance_attributes/nvpair[@name='" + requireName(name) + "']";
    }

    private Map<String, String> readSets() {
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--query", "--scope", "nodes"));
        if (r.exitCode() != 0) {
            throw failed("listing the nodes for", "node attributes", r);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Element node : CibXml.elements(r.stdout(), "node")) {
            List<Element> existing = new ArrayList<>(CibXml.elements(node, "instance_attributes"));
            // crm_attribute's own convention for a node's set, unless the node already has one
            out.put(node.getAttribute("id"), existing.isEmpty() ? "nodes-" + node.getAttribute("id")
                    : existing.get(0).getAttribute("id"));
        }
        if (out.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "the CIB lists no nodes"
                    + " (cibadmin --query --scope nodes): is this host part of the cluster?");
        }
        return out;
    }

    /** {@code <nodes><node id=..><instance_attributes id=..><nvpair .../>...}, escaped by the JDK's serializer. */
    static String nodesXml(Map<String, String> sets, String name, String value) {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            Document doc = f.newDocumentBuilder().newDocument();
            Element nodes = doc.createElement("nodes");
            doc.appendChild(nodes);
            for (Map.Entry<String, String> e : sets.entrySet()) {
                Element node = doc.createElement("node");
                node.setAttribute("id", e.getKey());
                Element set = doc.createElement("instance_attributes");
                set.setAttribute("id", e.getValue());
                Element pair = doc.createElement("nvpair");
                pair.setAttribute("id", e.getValue() + "-" + name);
                pair.setAttribute("name", name);
                pair.setAttribute("value", value);
                set.appendChild(pair);
                node.appendChild(set);
                nodes.appendChild(node);
            }
            var t = TransformerFactory.newInstance().newTransformer();
            t.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            StringWriter out = new StringWriter();
            t.transform(new DOMSource(doc), new StreamResult(out));
            return out.toString();
        } catch (ParserConfigurationException | TransformerException e) {
            throw new IllegalStateException("building the CIB update failed: " + e.getMessage(), e);
        }
    }

    private static PgMigrateException failed(String what, String name, CommandRunner.Result r) {
        return new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, what + " " + name + " in the CIB failed"
                + " (cibadmin exit code " + r.exitCode() + "): " + r.stderr().strip());
    }
}
