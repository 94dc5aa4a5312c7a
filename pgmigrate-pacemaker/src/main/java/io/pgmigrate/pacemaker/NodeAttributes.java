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
    /**
     * The CIB's node elements as the last {@link #get} read them, for the {@link #set} that follows it; taken once, so
     * a write never uses a list older than the read before it.
     */
    private List<Element> lastRead;

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
    synchronized Optional<String> get(String name) {
        requireName(name);
        List<Element> nodes = nodes();
        lastRead = nodes;
        List<String> copies = new ArrayList<>();
        for (Element node : nodes) {
            for (Element pair : CibXml.elements(node, "nvpair")) {
                if (pair.getAttribute("name").equals(name) && pair.getParentNode() instanceof Element set
                        && set.getTagName().equals("instance_attributes")) {
                    copies.add(pair.getAttribute("value"));
                }
            }
        }
        List<String> distinct = copies.stream().distinct().toList();
        if (distinct.size() > 1) {
            // Every write sets all copies at once: different ones were written by something else.
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "the node attribute " + name + " has "
                    + distinct.size() + " different values on the nodes, and pgmigrate writes them all at once; delete"
                    + " the wrong ones (cibadmin --query --scope nodes shows them)");
        }
        return distinct.stream().findFirst();
    }

    /**
     * Sets {@code name} to {@code value} on every node the CIB lists now, in one CIB update (the nodes read by the
     * {@link #get} just before, or read again). Characters XML cannot hold become {@code ?}.
     */
    synchronized void set(String name, String value) {
        requireName(name);
        List<Element> read = lastRead != null ? lastRead : nodes();
        lastRead = null;
        CommandRunner.Result r = modify(sets(read, name), name, value);
        if (r.exitCode() != 0) {
            // a node removed since the list was read: once more, with the nodes as they are now
            r = modify(sets(nodes(), name), name, value);
        }
        if (r.exitCode() != 0) {
            throw failed("writing", name, r);
        }
    }

    /** Removes {@code name} from every node. */
    synchronized void delete(String name) {
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--delete-all", "--force", "--xpath",
                "//configuration/nodes/node/instance_attributes/nvpair[@name='" + requireName(name) + "']"));
        if (r.exitCode() != 0 && !absent(r)) {
            throw failed("deleting", name, r);
        }
    }

    private CommandRunner.Result modify(Map<String, String> sets, String name, String value) {
        // On standard input: the value (a journal, copied once per node) may exceed what one argument can hold.
        return runner.attempt(List.of("cibadmin", "--modify", "--scope", "nodes", "--xml-pipe"),
                nodesXml(sets, name, value));
    }

    /** The CIB's {@code node} elements. */
    private List<Element> nodes() {
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--query", "--scope", "nodes"));
        if (r.exitCode() != 0) {
            throw failed("reading", "the nodes", r);
        }
        List<Element> nodes = CibXml.elements(r.stdout(), "node");
        if (nodes.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "the CIB lists no nodes"
                    + " (cibadmin --query --scope nodes): is this host part of the cluster?");
        }
        return nodes;
    }

    /** Per node, the attribute set a copy of {@code name} goes in: the one that holds it already, or the first. */
    private static Map<String, String> sets(List<Element> nodes, String name) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Element node : nodes) {
            List<Element> existing = CibXml.elements(node, "instance_attributes");
            String set = existing.stream().filter(a -> CibXml.elements(a, "nvpair").stream()
                            .anyMatch(p -> p.getAttribute("name").equals(name))).map(a -> a.getAttribute("id"))
                    .findFirst()
                    // crm_attribute's own convention for a node's set, unless the node already has one
                    .orElse(existing.isEmpty() ? "nodes-" + node.getAttribute("id") : existing.get(0).getAttribute("id"));
            out.put(node.getAttribute("id"), set);
        }
        return out;
    }

    /** Exit code of the Pacemaker tools for "no such object" (105); 6 is accepted too, as crm_attribute's was. */
    private static boolean absent(CommandRunner.Result r) {
        return r.exitCode() == PacemakerVip.NO_SUCH_OBJECT || r.exitCode() == 6;
    }

    /** {@code value} with every character XML 1.0 cannot hold made a {@code ?}. */
    static String xmlSafe(String value) {
        StringBuilder b = new StringBuilder(value.length());
        value.codePoints().forEach(c -> {
            boolean ok = c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD)
                    || (c >= 0x10000 && c <= 0x10FFFF);
            b.appendCodePoint(ok ? c : '?');
        });
        return b.toString();
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
                pair.setAttribute("value", xmlSafe(value));
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
