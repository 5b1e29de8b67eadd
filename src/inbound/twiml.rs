//! TwiML for messaging: the `<Response>` an inbound webhook answers with.
//!
//! Supported verbs: `<Message>` (attributes `to`, `from`, `action`, `method`,
//! `statusCallback`; text or `<Body>` children, which are concatenated, and up to 10 `<Media>`)
//! and `<Redirect>` (attribute `method`). An empty `<Response/>` means no reply.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// Twilio's error for TwiML that is not well-formed XML.
pub const PARSE_FAILURE: u32 = 12100;
/// Twilio's error for well-formed TwiML that breaks the schema (unknown verb, bad nesting).
pub const SCHEMA_VIOLATION: u32 = 12200;
/// Most media a `<Message>` may carry.
pub const MAX_MEDIA: usize = 10;

/// A `<Message>` verb.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageVerb {
    /// Recipient (default: who sent the inbound message).
    pub to: Option<String>,
    /// Sender (default: the number that received it).
    pub from: Option<String>,
    /// Status callbacks of the reply go here.
    pub action: Option<String>,
    /// Method of the `action` request.
    pub method: Option<String>,
    /// Older spelling of `action`, still honoured.
    pub status_callback: Option<String>,
    /// Text.
    pub body: String,
    /// Media URLs.
    pub media: Vec<String>,
}

/// One verb of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Send a reply.
    Message(MessageVerb),
    /// Fetch more TwiML from this URL with this method.
    Redirect {
        /// Target URL (may be relative to the webhook URL).
        url: String,
        /// `GET` or `POST` (default POST).
        method: String,
    },
}

/// Why a document was refused, with Twilio's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwimlError {
    /// 12100 or 12200.
    pub code: u32,
    /// What was wrong.
    pub message: String,
}

fn schema(message: impl Into<String>) -> TwimlError {
    TwimlError { code: SCHEMA_VIOLATION, message: message.into() }
}

fn parse_error(message: impl Into<String>) -> TwimlError {
    TwimlError { code: PARSE_FAILURE, message: message.into() }
}

/// Where the parser is inside the document.
#[derive(PartialEq)]
enum Place {
    Top,
    Response,
    Message,
    Body,
    Media,
    Redirect,
}

/// Parses a messaging TwiML document into its verbs.
pub fn parse(xml: &str) -> Result<Vec<Verb>, TwimlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut verbs = Vec::new();
    let mut place = Place::Top;
    let mut seen_response = false;
    let mut current = MessageVerb::default();
    let mut text = String::new();
    let mut redirect_method = String::new();
    loop {
        let event = reader.read_event().map_err(|e| parse_error(format!("TwiML is not well-formed XML: {e}")))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                let attr = |key: &str| -> Result<Option<String>, TwimlError> {
                    for a in e.attributes() {
                        let a = a.map_err(|e| parse_error(format!("bad attribute: {e}")))?;
                        if a.key.as_ref() == key.as_bytes() {
                            let v = a
                                .normalized_value(XmlVersion::Implicit1_0)
                                .map_err(|e| parse_error(format!("bad attribute value: {e}")))?;
                            return Ok(Some(v.trim().to_string()).filter(|v| !v.is_empty()));
                        }
                    }
                    Ok(None)
                };
                match (&place, name.as_str()) {
                    (Place::Top, "Response") if !seen_response => {
                        seen_response = true;
                        if !empty {
                            place = Place::Response;
                        }
                    }
                    (Place::Top, other) => {
                        return Err(schema(format!("the root element must be <Response>, not <{other}>")))
                    }
                    (Place::Response, "Message") => {
                        current = MessageVerb {
                            to: attr("to")?,
                            from: attr("from")?,
                            action: attr("action")?,
                            method: attr("method")?,
                            status_callback: attr("statusCallback")?,
                            ..Default::default()
                        };
                        text.clear();
                        if empty {
                            verbs.push(Verb::Message(std::mem::take(&mut current)));
                        } else {
                            place = Place::Message;
                        }
                    }
                    (Place::Response, "Redirect") => {
                        redirect_method = attr("method")?.unwrap_or_else(|| "POST".into()).to_ascii_uppercase();
                        text.clear();
                        if empty {
                            return Err(schema("<Redirect> needs a URL"));
                        }
                        place = Place::Redirect;
                    }
                    (Place::Message, "Body") if !empty => {
                        text.clear();
                        place = Place::Body;
                    }
                    (Place::Message, "Media") if !empty => {
                        text.clear();
                        place = Place::Media;
                    }
                    (Place::Message, "Body" | "Media") => {}
                    (_, other) => return Err(schema(format!("<{other}> is not allowed here in messaging TwiML"))),
                }
            }
            Event::Text(t) => {
                let s = t.xml_content(XmlVersion::Implicit1_0).map_err(|e| parse_error(format!("bad text: {e}")))?;
                text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| parse_error(format!("bad entity: {e}")))?;
                match r.resolve_char_ref().map_err(|e| parse_error(format!("bad character reference: {e}")))? {
                    Some(c) => text.push(c),
                    None => match resolve_predefined_entity(&name) {
                        Some(v) => text.push_str(v),
                        None => return Err(parse_error(format!("unknown entity &{name};"))),
                    },
                }
            }
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                match (&place, name.as_str()) {
                    (Place::Body, "Body") => {
                        current.body.push_str(&text);
                        text.clear();
                        place = Place::Message;
                    }
                    (Place::Media, "Media") => {
                        current.media.push(text.trim().to_string());
                        text.clear();
                        place = Place::Message;
                    }
                    (Place::Message, "Message") => {
                        // Text directly inside <Message> is the body (with any <Body> parts).
                        let direct = text.trim();
                        if !direct.is_empty() {
                            current.body.push_str(direct);
                        }
                        text.clear();
                        if current.media.len() > MAX_MEDIA {
                            return Err(schema(format!("a <Message> may carry at most {MAX_MEDIA} <Media>")));
                        }
                        verbs.push(Verb::Message(std::mem::take(&mut current)));
                        place = Place::Response;
                    }
                    (Place::Redirect, "Redirect") => {
                        let url = text.trim().to_string();
                        if url.is_empty() {
                            return Err(schema("<Redirect> needs a URL"));
                        }
                        verbs.push(Verb::Redirect { url, method: std::mem::take(&mut redirect_method) });
                        text.clear();
                        place = Place::Response;
                    }
                    (Place::Response, "Response") => place = Place::Top,
                    _ => return Err(parse_error(format!("unexpected </{name}>"))),
                }
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions, doctype: nothing to do.
            _ => {}
        }
        if place == Place::Top || place == Place::Response {
            text.clear();
        }
    }
    if !seen_response {
        return Err(schema("the document has no <Response>"));
    }
    if place != Place::Top {
        return Err(parse_error("the document ends inside an element"));
    }
    Ok(verbs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_with_text_body_and_media_parse_in_order() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <Response>
              <Message>Hello &amp; welcome</Message>
              <Message to="+14155550199" from="+14155550100" action="https://e.com/s" method="GET">
                <Body>Part one, </Body><Body>part two</Body>
                <Media>https://e.com/a.png</Media>
              </Message>
            </Response>"#;
        let verbs = parse(xml).unwrap();
        assert_eq!(verbs.len(), 2);
        let Verb::Message(m) = &verbs[0] else { panic!() };
        assert_eq!(m.body, "Hello & welcome");
        let Verb::Message(m) = &verbs[1] else { panic!() };
        assert_eq!(m.body, "Part one, part two");
        assert_eq!(m.to.as_deref(), Some("+14155550199"));
        assert_eq!(m.method.as_deref(), Some("GET"));
        assert_eq!(m.media, ["https://e.com/a.png"]);
    }

    #[test]
    fn an_empty_response_means_no_reply() {
        assert_eq!(parse("<Response/>").unwrap(), vec![]);
        assert_eq!(parse("<Response></Response>").unwrap(), vec![]);
    }

    #[test]
    fn redirect_carries_its_url_and_method() {
        let verbs = parse("<Response><Redirect method=\"GET\">/next</Redirect></Response>").unwrap();
        assert_eq!(verbs, vec![Verb::Redirect { url: "/next".into(), method: "GET".into() }]);
    }

    #[test]
    fn broken_documents_get_twilios_codes() {
        assert_eq!(parse("<Response><Message>hi</Response>").unwrap_err().code, PARSE_FAILURE);
        assert_eq!(parse("not xml at all <<<").unwrap_err().code, PARSE_FAILURE);
        assert_eq!(parse("<Response><Say>hi</Say></Response>").unwrap_err().code, SCHEMA_VIOLATION);
        assert_eq!(parse("<Reply/>").unwrap_err().code, SCHEMA_VIOLATION);
        assert_eq!(parse("").unwrap_err().code, SCHEMA_VIOLATION);
        let many = format!("<Response><Message>{}</Message></Response>", "<Media>https://e.com/x</Media>".repeat(11));
        assert_eq!(parse(&many).unwrap_err().code, SCHEMA_VIOLATION);
    }
}
