//! permessage-deflate negotiation against RFC 7692, grouped by section,
//! with the handshake bytes written out literally.

use super::*;
use crate::extension::{parse_offers, ExtensionError};
use crate::handshake::{parse_request, parse_response, ClientHandshakeError, ClientRequest};
#[cfg(feature = "alloc")]
use crate::handshake::{policy::AcceptPolicy, write_accept, Request};

const NONCE: [u8; 16] = *b"the sample nonce";

/// A config that leaves every window alone, so answers show only what the
/// client asked for.
const WIDE: DeflateConfig = DeflateConfig {
    server_max_window_bits: 15,
    client_max_window_bits: 15,
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    require_client_max_window_bits: false,
};

fn params(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    }
}

/// The server's answer to `offers` under `config`, as (params, header).
fn serve(config: &DeflateConfig, offers: &str) -> (Option<DeflateParams>, String) {
    let agreement = config.negotiate(parse_offers(offers));
    (
        agreement.negotiated.permessage_deflate,
        agreement.response.as_str().to_owned(),
    )
}

/// Why `config` declines the single offer `offer`.
fn decline(config: &DeflateConfig, offer: &str) -> Decline {
    let mut offers = parse_offers(offer);
    let offer = offers.next().unwrap().unwrap();
    assert!(offers.next().is_none(), "one offer only");
    config.accept(&offer).unwrap_err()
}

fn first(value: &str) -> crate::extension::ExtensionOffer<'_> {
    parse_offers(value).next().unwrap().unwrap()
}

mod section_5_negotiation_walk {
    use super::*;

    /// RFC 7692 §5.2: offers are considered in order; the first acceptable
    /// one wins and the rest are ignored.
    #[test]
    fn first_acceptable_offer_wins() {
        let offers = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
                      permessage-deflate";
        assert_eq!(
            serve(&WIDE, offers),
            (
                Some(params(false, false, 10, 15)),
                "permessage-deflate; server_max_window_bits=10".into()
            )
        );
    }

    #[test]
    fn a_declined_offer_falls_back_to_the_next() {
        let offers = "permessage-deflate; server_max_window_bits=16, \
                      permessage-deflate; server_max_window_bits=10; server_max_window_bits=10, \
                      permessage-deflate; client_max_window_bits";
        assert_eq!(
            serve(&WIDE, offers),
            (
                Some(params(false, false, 15, 15)),
                "permessage-deflate".into()
            )
        );
        let mut why = Vec::new();
        WIDE.negotiate_with(parse_offers(offers), |d| why.push(d));
        assert_eq!(
            why,
            [
                Decline::Param(ParamError::OutOfRange(DeflateParam::ServerMaxWindowBits)),
                Decline::Param(ParamError::Duplicate(DeflateParam::ServerMaxWindowBits)),
            ]
        );
    }

    #[test]
    fn other_extensions_are_passed_over() {
        let offers = "x-webkit-deflate-frame, deflate-frame; a=1, permessage-deflate";
        assert_eq!(serve(&WIDE, offers).0, Some(DeflateParams::default()));
        assert_eq!(
            serve(&WIDE, "x-webkit-deflate-frame"),
            (None, String::new())
        );
        assert_eq!(serve(&WIDE, ""), (None, String::new()));
        // Names are compared exactly.
        assert_eq!(serve(&WIDE, "Permessage-Deflate"), (None, String::new()));
    }

    #[test]
    fn a_syntax_error_ends_the_walk() {
        // Before the error, an acceptable offer still counts.
        assert_eq!(
            serve(&WIDE, "permessage-deflate, x; a=\"open").0,
            Some(DeflateParams::default())
        );
        // After it, nothing can be read.
        let offers = "permessage-deflate; x=1, y z, permessage-deflate";
        assert_eq!(serve(&WIDE, offers), (None, String::new()));
        let mut why = Vec::new();
        WIDE.negotiate_with(parse_offers(offers), |d| why.push(d));
        assert_eq!(
            why,
            [
                Decline::Param(ParamError::Unknown),
                Decline::Syntax(ExtensionError::InvalidChar('z')),
            ]
        );
    }

    #[test]
    fn offers_spread_over_several_fields() {
        let head = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n";
        let request = parse_request(head).unwrap();
        let agreement = WIDE.negotiate(request.extensions());
        assert_eq!(
            agreement.negotiated.permessage_deflate,
            Some(params(false, true, 15, 15))
        );
    }

    #[test]
    fn unreadable_field_bytes_decline_everything_after() {
        let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: x\xff\r\n\
            Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        let request = parse_request(head).unwrap();
        let mut why = Vec::new();
        let agreement = WIDE.negotiate_with(request.extensions(), |d| why.push(d));
        assert_eq!(agreement, Agreement::default());
        assert_eq!(why, [Decline::Syntax(ExtensionError::NotUtf8)]);
    }
}

mod section_7_1_parameters {
    use super::*;

    /// §7.1: an unknown parameter, a repeated one, or an invalid value
    /// declines the offer.
    #[test]
    fn every_param_error_declines() {
        use DeflateParam::*;
        for (offer, why) in [
            ("permessage-deflate; x", ParamError::Unknown),
            ("permessage-deflate; x=1", ParamError::Unknown),
            (
                "permessage-deflate; Server_No_Context_Takeover",
                ParamError::Unknown,
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                ParamError::Duplicate(ServerNoContextTakeover),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                ParamError::Duplicate(ClientNoContextTakeover),
            ),
            (
                "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
                ParamError::Duplicate(ServerMaxWindowBits),
            ),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
                ParamError::Duplicate(ClientMaxWindowBits),
            ),
            (
                "permessage-deflate; server_no_context_takeover=true",
                ParamError::UnexpectedValue(ServerNoContextTakeover),
            ),
            (
                "permessage-deflate; client_no_context_takeover=\"\"",
                ParamError::UnexpectedValue(ClientNoContextTakeover),
            ),
            (
                "permessage-deflate; server_max_window_bits",
                ParamError::MissingValue(ServerMaxWindowBits),
            ),
            (
                "permessage-deflate; server_max_window_bits=ten",
                ParamError::InvalidValue(ServerMaxWindowBits),
            ),
            (
                "permessage-deflate; server_max_window_bits=010",
                ParamError::InvalidValue(ServerMaxWindowBits),
            ),
            (
                "permessage-deflate; client_max_window_bits=\"1 0\"",
                ParamError::InvalidValue(ClientMaxWindowBits),
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                ParamError::OutOfRange(ServerMaxWindowBits),
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                ParamError::OutOfRange(ServerMaxWindowBits),
            ),
            (
                "permessage-deflate; client_max_window_bits=0x9",
                ParamError::InvalidValue(ClientMaxWindowBits),
            ),
            (
                "permessage-deflate; client_max_window_bits=65536",
                ParamError::OutOfRange(ClientMaxWindowBits),
            ),
        ] {
            assert_eq!(decline(&WIDE, offer), Decline::Param(why), "{offer}");
            assert_eq!(serve(&WIDE, offer), (None, String::new()), "{offer}");
        }
        assert_eq!(decline(&WIDE, "x-foo"), Decline::NotPermessageDeflate);
    }

    /// §7.1: a quoted value is read after unescaping.
    #[test]
    fn quoted_values() {
        assert_eq!(
            serve(&WIDE, "permessage-deflate; server_max_window_bits=\"10\"").1,
            "permessage-deflate; server_max_window_bits=10"
        );
        assert_eq!(
            serve(&WIDE, r#"permessage-deflate; client_max_window_bits="\9""#).0,
            Some(params(false, false, 15, 9))
        );
    }

    /// §7.1.1.1: the server accepts `server_no_context_takeover` by naming
    /// it; it may also choose it unasked.
    #[test]
    fn server_no_context_takeover() {
        assert_eq!(
            serve(&WIDE, "permessage-deflate; server_no_context_takeover"),
            (
                Some(params(true, false, 15, 15)),
                "permessage-deflate; server_no_context_takeover".into()
            )
        );
        let own = DeflateConfig {
            server_no_context_takeover: true,
            ..WIDE
        };
        assert_eq!(
            serve(&own, "permessage-deflate"),
            (
                Some(params(true, false, 15, 15)),
                "permessage-deflate; server_no_context_takeover".into()
            )
        );
    }

    /// §7.1.1.2: the server may ask the client not to take over context,
    /// offered or not; an offered one is echoed so the server's inflater
    /// may forget between messages.
    #[test]
    fn client_no_context_takeover() {
        assert_eq!(
            serve(&WIDE, "permessage-deflate; client_no_context_takeover"),
            (
                Some(params(false, true, 15, 15)),
                "permessage-deflate; client_no_context_takeover".into()
            )
        );
        let ask = DeflateConfig {
            client_no_context_takeover: true,
            ..WIDE
        };
        assert_eq!(
            serve(&ask, "permessage-deflate").1,
            "permessage-deflate; client_no_context_takeover"
        );
    }

    /// §7.1.2.1: the server's window is at most what the client asked, and
    /// a request is accepted by naming the parameter, even at 15.
    #[test]
    fn server_max_window_bits() {
        for (offer, config_bits, bits, header) in [
            ("permessage-deflate", 15, 15, "permessage-deflate"),
            (
                "permessage-deflate",
                12,
                12,
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                12,
                10,
                "permessage-deflate; server_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=14",
                12,
                12,
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                "permessage-deflate; server_max_window_bits=15",
                15,
                15,
                "permessage-deflate; server_max_window_bits=15",
            ),
            // 8 is accepted; the codec keeps back-references within 256 bytes.
            (
                "permessage-deflate; server_max_window_bits=8",
                15,
                8,
                "permessage-deflate; server_max_window_bits=8",
            ),
        ] {
            let config = DeflateConfig {
                server_max_window_bits: config_bits,
                ..WIDE
            };
            let (p, h) = serve(&config, offer);
            assert_eq!(p.unwrap().server_max_window_bits, bits, "{offer}");
            assert_eq!(h, header, "{offer}");
        }
    }

    /// §7.1.2.2: only a client that offered `client_max_window_bits` can be
    /// limited, and never above its own value.
    #[test]
    fn client_max_window_bits() {
        for (offer, config_bits, bits, header) in [
            ("permessage-deflate", 10, 15, "permessage-deflate"),
            (
                "permessage-deflate; client_max_window_bits",
                15,
                15,
                "permessage-deflate",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                10,
                10,
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                "permessage-deflate; client_max_window_bits=9",
                12,
                9,
                "permessage-deflate; client_max_window_bits=9",
            ),
            (
                "permessage-deflate; client_max_window_bits=13",
                11,
                11,
                "permessage-deflate; client_max_window_bits=11",
            ),
            (
                "permessage-deflate; client_max_window_bits=8",
                15,
                8,
                "permessage-deflate; client_max_window_bits=8",
            ),
        ] {
            let config = DeflateConfig {
                client_max_window_bits: config_bits,
                ..WIDE
            };
            let (p, h) = serve(&config, offer);
            assert_eq!(p.unwrap().client_max_window_bits, bits, "{offer}");
            assert_eq!(h, header, "{offer}");
        }
    }

    #[test]
    fn a_server_may_require_client_max_window_bits() {
        let strict = DeflateConfig {
            client_max_window_bits: 10,
            require_client_max_window_bits: true,
            ..WIDE
        };
        assert_eq!(
            decline(&strict, "permessage-deflate"),
            Decline::ClientWindowBitsRequired
        );
        assert_eq!(
            serve(
                &strict,
                "permessage-deflate, permessage-deflate; client_max_window_bits"
            )
            .1,
            "permessage-deflate; client_max_window_bits=10"
        );
        // Requiring it at 15 bounds nothing, so declines nothing.
        let pointless = DeflateConfig {
            require_client_max_window_bits: true,
            ..WIDE
        };
        assert!(serve(&pointless, "permessage-deflate").0.is_some());
    }

    #[test]
    fn out_of_range_settings_are_clamped_and_reported() {
        let wild = DeflateConfig {
            server_max_window_bits: 3,
            client_max_window_bits: 200,
            ..WIDE
        };
        assert_eq!(
            wild.validate(),
            Err(InvalidWindowBits {
                param: DeflateParam::ServerMaxWindowBits,
                bits: 3
            })
        );
        assert_eq!(
            serve(&wild, "permessage-deflate; client_max_window_bits").0,
            Some(params(false, false, 8, 15))
        );
        assert!(WIDE.validate().is_ok());
        assert!(!wild.validate().unwrap_err().to_string().is_empty());
    }

    #[test]
    fn the_longest_answer_fits() {
        let config = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 11,
            require_client_max_window_bits: false,
        };
        let (p, h) = serve(&config, "permessage-deflate; client_max_window_bits");
        assert_eq!(p, Some(params(true, true, 10, 11)));
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
        );
        assert!(h.len() <= 128);
    }

    #[test]
    fn declines_display() {
        for d in [
            Decline::NotPermessageDeflate,
            Decline::Param(ParamError::Unknown),
            Decline::ClientWindowBitsRequired,
            Decline::Syntax(ExtensionError::NotUtf8),
        ] {
            assert!(!d.to_string().is_empty());
            assert_eq!(
                core::error::Error::source(&d).is_some(),
                matches!(d, Decline::Param(_) | Decline::Syntax(_))
            );
        }
    }
}

mod section_7_1_client_checks {
    use super::*;

    const ACCEPT: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

    fn answer(extensions: &str) -> Vec<u8> {
        format!("{ACCEPT}{extensions}\r\n").into_bytes()
    }

    fn client(deflate: DeflateOffer) -> ClientRequest<'static> {
        ClientRequest {
            deflate: Some(deflate),
            ..ClientRequest::new("server.example.com", "/chat", NONCE)
        }
    }

    fn outcome(
        request: &ClientRequest<'_>,
        extensions: &str,
    ) -> Result<Negotiated, ClientHandshakeError> {
        parse_response(&answer(extensions), request).map(|r| r.negotiated())
    }

    #[test]
    fn the_offer_is_written_first() {
        let request = ClientRequest {
            extensions: Some("x-foo"),
            ..client(DeflateOffer {
                server_max_window_bits: Some(10),
                ..DeflateOffer::default()
            })
        };
        let mut out = [0u8; 512];
        let n = request.write(&mut out).unwrap();
        assert_eq!(
            &out[..n],
            &b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
               Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
               Sec-WebSocket-Version: 13\r\n\
               Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; \
               client_max_window_bits, x-foo\r\n\r\n"[..]
        );
    }

    #[test]
    fn accepted_answers() {
        let request = client(DeflateOffer::default());
        assert_eq!(outcome(&request, ""), Ok(Negotiated::NONE));
        assert_eq!(
            outcome(&request, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            Ok(Negotiated {
                permessage_deflate: Some(DeflateParams::default())
            })
        );
        // A server may name server_max_window_bits unasked (§7.1.2.1) and
        // limit an offered client_max_window_bits (§7.1.2.2).
        let n = outcome(
            &request,
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8\r\n",
        )
        .unwrap();
        assert_eq!(n.permessage_deflate, Some(params(true, true, 9, 8)));
        assert_eq!(n.rsv_mask(), crate::frame::RSV1);
    }

    #[test]
    fn the_client_keeps_what_it_promised() {
        let request = client(DeflateOffer {
            client_no_context_takeover: true,
            client_max_window_bits: Some(10),
            ..DeflateOffer::default()
        });
        let n = outcome(&request, "Sec-WebSocket-Extensions: permessage-deflate\r\n").unwrap();
        assert_eq!(n.permessage_deflate, Some(params(false, true, 15, 10)));
    }

    #[test]
    fn every_rejection() {
        use DeflateParam::*;
        let asks_much = client(DeflateOffer {
            server_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(12),
            ..DeflateOffer::default()
        });
        let no_client_bits = client(DeflateOffer {
            client_max_window_bits: None,
            ..DeflateOffer::default()
        });
        let deflate = ClientHandshakeError::Deflate;
        for (request, field, err) in [
            (
                &no_client_bits,
                "permessage-deflate; client_max_window_bits=10",
                deflate(ResponseError::ClientWindowBitsNotOffered),
            ),
            (
                &asks_much,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=13",
                deflate(ResponseError::ClientWindowBitsTooLarge),
            ),
            (
                &asks_much,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits",
                deflate(ResponseError::Param(ParamError::MissingValue(
                    ClientMaxWindowBits,
                ))),
            ),
            (
                &asks_much,
                "permessage-deflate; server_no_context_takeover",
                deflate(ResponseError::ServerWindowBitsMissing),
            ),
            (
                &asks_much,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                deflate(ResponseError::ServerWindowBitsTooLarge),
            ),
            (
                &asks_much,
                "permessage-deflate; server_max_window_bits=10",
                deflate(ResponseError::ServerNoContextTakeoverMissing),
            ),
            (
                &no_client_bits,
                "permessage-deflate; x=1",
                deflate(ResponseError::Param(ParamError::Unknown)),
            ),
            (
                &no_client_bits,
                "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
                deflate(ResponseError::Param(ParamError::Duplicate(
                    ServerMaxWindowBits,
                ))),
            ),
            (
                &no_client_bits,
                "permessage-deflate; server_max_window_bits=1O",
                deflate(ResponseError::Param(ParamError::InvalidValue(
                    ServerMaxWindowBits,
                ))),
            ),
            (
                &no_client_bits,
                "permessage-deflate; server_max_window_bits=20",
                deflate(ResponseError::Param(ParamError::OutOfRange(
                    ServerMaxWindowBits,
                ))),
            ),
            (
                &no_client_bits,
                "permessage-deflate; server_no_context_takeover=1",
                deflate(ResponseError::Param(ParamError::UnexpectedValue(
                    ServerNoContextTakeover,
                ))),
            ),
            (
                &no_client_bits,
                "permessage-deflate, permessage-deflate",
                ClientHandshakeError::DuplicateExtension,
            ),
            (
                &no_client_bits,
                "x-foo",
                ClientHandshakeError::UnofferedExtension,
            ),
        ] {
            let extensions = format!("Sec-WebSocket-Extensions: {field}\r\n");
            assert_eq!(outcome(request, &extensions), Err(err), "{field}");
        }
        for e in [
            ResponseError::Param(ParamError::Unknown),
            ResponseError::ClientWindowBitsNotOffered,
            ResponseError::ClientWindowBitsTooLarge,
            ResponseError::ServerWindowBitsMissing,
            ResponseError::ServerWindowBitsTooLarge,
            ResponseError::ServerNoContextTakeoverMissing,
        ] {
            assert!(!e.to_string().is_empty());
            assert!(!deflate(e).to_string().is_empty());
            assert_eq!(
                core::error::Error::source(&e).is_some(),
                matches!(e, ResponseError::Param(_))
            );
        }
    }

    #[test]
    fn named_twice_across_fields() {
        let request = ClientRequest {
            extensions: Some("x-foo"),
            ..client(DeflateOffer::default())
        };
        assert_eq!(
            outcome(
                &request,
                "Sec-WebSocket-Extensions: permessage-deflate\r\n\
                 Sec-WebSocket-Extensions: x-foo, permessage-deflate\r\n"
            ),
            Err(ClientHandshakeError::DuplicateExtension)
        );
        assert_eq!(
            outcome(&request, "Sec-WebSocket-Extensions: x-foo, x-foo\r\n"),
            Err(ClientHandshakeError::DuplicateExtension)
        );
        assert!(outcome(
            &request,
            "Sec-WebSocket-Extensions: x-foo\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
        )
        .is_ok());
    }

    #[test]
    fn not_offered_at_all() {
        let plain = ClientRequest::new("h", "/", NONCE);
        assert_eq!(
            outcome(&plain, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            Err(ClientHandshakeError::UnofferedExtension)
        );
        // Offered only in a form no server may accept.
        let broken = ClientRequest {
            extensions: Some("permessage-deflate; server_max_window_bits"),
            ..ClientRequest::new("h", "/", NONCE)
        };
        assert_eq!(
            outcome(&broken, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            Err(ClientHandshakeError::UnofferedExtension)
        );
    }

    /// A raw permessage-deflate offer is a fallback: the answer may fit it
    /// instead of the typed one, and the typed one's error is reported when
    /// it fits neither.
    #[test]
    fn fallback_offers() {
        let request = ClientRequest {
            extensions: Some("permessage-deflate"),
            ..client(DeflateOffer {
                server_no_context_takeover: true,
                client_max_window_bits: None,
                ..DeflateOffer::default()
            })
        };
        let n = outcome(&request, "Sec-WebSocket-Extensions: permessage-deflate\r\n").unwrap();
        assert_eq!(n.permessage_deflate, Some(DeflateParams::default()));
        assert_eq!(
            outcome(
                &request,
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9\r\n"
            ),
            Err(ClientHandshakeError::Deflate(
                ResponseError::ClientWindowBitsNotOffered
            ))
        );
        // Offered only as text, still checked and typed.
        let raw = ClientRequest {
            extensions: Some("permessage-deflate; client_max_window_bits"),
            ..ClientRequest::new("h", "/", NONCE)
        };
        let n = outcome(
            &raw,
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=11\r\n",
        )
        .unwrap();
        assert_eq!(n.permessage_deflate, Some(params(false, false, 15, 11)));
    }
}

/// Both roles over real handshake bytes, through the policy.
#[cfg(feature = "alloc")]
mod end_to_end {
    use super::*;

    fn request_bytes(request: &ClientRequest<'_>) -> Vec<u8> {
        let mut out = [0u8; 1024];
        let n = request.write(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn accept_bytes(request: &Request<'_>, policy: &AcceptPolicy) -> (Vec<u8>, Negotiated) {
        let decision = policy.evaluate(request).unwrap();
        let mut out = [0u8; 1024];
        let n = write_accept(request, &decision.accept(), &mut out).unwrap();
        (out[..n].to_vec(), decision.extensions)
    }

    #[test]
    fn browser_offer_against_the_default_policy_and_config() {
        let client = ClientRequest {
            deflate: Some(DeflateOffer::default()),
            ..ClientRequest::new("server.example.com", "/chat", NONCE)
        };
        let sent = request_bytes(&client);
        let request = parse_request(&sent).unwrap();

        // Compression is off by default.
        let (answer, negotiated) = accept_bytes(&request, &AcceptPolicy::default());
        assert_eq!(negotiated, Negotiated::NONE);
        assert_eq!(
            answer,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        assert_eq!(
            parse_response(&answer, &client).unwrap().negotiated(),
            Negotiated::NONE
        );

        let policy = AcceptPolicy {
            deflate: Some(DeflateConfig::default()),
            ..AcceptPolicy::default()
        };
        let (answer, server) = accept_bytes(&request, &policy);
        assert_eq!(
            answer,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; \
              client_max_window_bits=12\r\n\r\n"
        );
        let client_side = parse_response(&answer, &client).unwrap().negotiated();
        assert_eq!(client_side, server);
        assert_eq!(
            server.permessage_deflate,
            Some(params(false, false, 12, 12))
        );
    }

    #[test]
    fn an_invalid_deflate_setting_fails_validation() {
        let policy = AcceptPolicy {
            deflate: Some(DeflateConfig {
                client_max_window_bits: 16,
                ..DeflateConfig::default()
            }),
            ..AcceptPolicy::default()
        };
        let err = policy.validate().unwrap_err();
        assert!(err.to_string().contains("client_max_window_bits"));
    }
}

#[cfg(not(miri))]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Offer lists built mostly from the parameter vocabulary, so that many
    /// are acceptable, with some noise.
    fn offer_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("permessage-deflate".to_owned()),
            Just("x-foo".to_owned()),
            Just("; server_no_context_takeover".to_owned()),
            Just("; client_no_context_takeover".to_owned()),
            Just("; client_max_window_bits".to_owned()),
            (7u8..17).prop_map(|b| format!("; client_max_window_bits={b}")),
            (7u8..17).prop_map(|b| format!("; server_max_window_bits=\"{b}\"")),
            (7u8..17).prop_map(|b| format!("; server_max_window_bits={b}")),
            Just(", ".to_owned()),
            Just(", ".to_owned()),
            "[ -~]{0,3}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    fn config() -> impl Strategy<Value = DeflateConfig> {
        (any::<(bool, bool, bool)>(), 6u8..18, 6u8..18).prop_map(|((s, c, r), sb, cb)| {
            DeflateConfig {
                server_max_window_bits: sb,
                client_max_window_bits: cb,
                server_no_context_takeover: s,
                client_no_context_takeover: c,
                require_client_max_window_bits: r,
            }
        })
    }

    /// Either nothing was accepted and the answer is empty, or the params
    /// are in range, the answer reads back as one well-formed
    /// permessage-deflate element, and a client that sent `offers` accepts
    /// it with params the server's are safe against.
    fn check(config: &DeflateConfig, offers: &str) -> Result<(), TestCaseError> {
        let agreement = config.negotiate(parse_offers(offers));
        let Some(server) = agreement.negotiated.permessage_deflate else {
            prop_assert!(agreement.response.is_empty());
            return Ok(());
        };
        for bits in [server.server_max_window_bits, server.client_max_window_bits] {
            prop_assert!((MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits));
        }
        prop_assert!(server.server_max_window_bits <= config.server_max_window_bits.max(8));
        let mut answer = parse_offers(agreement.response.as_str());
        let element = answer.next().unwrap().unwrap();
        prop_assert!(answer.next().is_none());
        prop_assert_eq!(element.name(), PERMESSAGE_DEFLATE);

        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Extensions: {}\r\n\r\n",
            agreement.response
        );
        let request = ClientRequest {
            extensions: Some(offers),
            ..ClientRequest::new("h", "/", NONCE)
        };
        let client = parse_response(head.as_bytes(), &request)
            .unwrap()
            .negotiated()
            .permessage_deflate
            .unwrap();
        // What the server sends, both agree on; what the client sends fits
        // what the server expects.
        prop_assert_eq!(
            client.compress_params(crate::Role::Server),
            server.compress_params(crate::Role::Server)
        );
        prop_assert!(client.client_max_window_bits <= server.client_max_window_bits);
        prop_assert!(client.client_no_context_takeover >= server.client_no_context_takeover);
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(config in config(), offers in "\\PC{0,60}") {
            check(&config, &offers)?;
        }

        #[test]
        fn vocabulary_offers_round_trip(config in config(), offers in offer_text()) {
            check(&config, &offers)?;
        }

        #[test]
        fn typed_offers_round_trip(
            config in config(),
            offer in any::<(bool, bool, Option<u8>, Option<u8>)>(),
        ) {
            let offer = DeflateOffer {
                server_no_context_takeover: offer.0,
                client_no_context_takeover: offer.1,
                server_max_window_bits: offer.2,
                client_max_window_bits: offer.3,
            };
            let text = offer.to_string();
            check(&config, &text)?;
            let declined = config.accept(&first(&text)).err();
            let expected = (config.require_client_max_window_bits
                && config.client_max_window_bits < 15
                && offer.client_max_window_bits.is_none())
                .then_some(Decline::ClientWindowBitsRequired);
            prop_assert_eq!(declined, expected);
            if let Ok(agreement) = config.accept(&first(&text)) {
                let answer = first(agreement.response.as_str());
                let client = offer.check_response(&answer).unwrap();
                prop_assert_eq!(Some(client), agreement.negotiated.permessage_deflate);
            }
        }
    }
}
