package io.pgmigrate.pacemaker;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;

/**
 * Reads the XML that Pacemaker's tools print ({@code crm_mon --output-as=xml}, {@code cibadmin --query}) with the
 * JDK's parser: no document type, no external entities. Several top-level elements (one per XPath match) are read
 * as siblings.
 */
final class CibXml {

    private CibXml() {
    }

    /** Every element named {@code tag} in {@code xml}, in document order. */
    static List<Element> elements(String xml, String tag) {
        return elements(parse(xml).getDocumentElement(), tag);
    }

    /** Every element named {@code tag} below {@code parent}, in document order. */
    static List<Element> elements(Element parent, String tag) {
        NodeList list = parent.getElementsByTagName(tag);
        List<Element> out = new ArrayList<>(list.getLength());
        for (int i = 0; i < list.getLength(); i++) {
            out.add((Element) list.item(i));
        }
        return out;
    }

    private static Document parse(String xml) {
        // Declarations are only allowed at the very start; the wrapper makes several matches one document.
        String body = xml.replaceAll("<\\?xml[^>]*\\?>", "");
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            return f.newDocumentBuilder().parse(new InputSource(new StringReader("<cib-output>" + body
                    + "</cib-output>")));
        } catch (ParserConfigurationException | SAXException | IOException e) {
            throw new IllegalStateException("Pacemaker printed XML that cannot be read: " + e.getMessage(), e);
        }
    }
}
