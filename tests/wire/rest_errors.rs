//! The REST error body of contract §3: `{"error":{"code","message"}}` with the
//! status each kind of refusal maps to.

use actix_web::ResponseError;
use roomcast::protocol::{ErrorCode, Refusal};
use roomcast::routes::ApiError;

async fn body(e: ApiError) -> (u16, serde_json::Value) {
    let res = e.error_response();
    let status = res.status().as_u16();
    let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[actix_web::test]
async fn every_kind_of_api_error_has_its_status_code_and_body() {
    let cases = [
        (ApiError::BadRequest("b".into()), 400, "bad_request", "b"),
        (ApiError::Unauthorized("u".into()), 401, "unauthorized", "u"),
        (ApiError::Forbidden("f".into()), 403, "forbidden", "f"),
        (ApiError::NotFound("n".into()), 404, "not_found", "n"),
        (ApiError::TooLong("l".into()), 400, "too_long", "l"),
        (ApiError::TooLarge("t".into()), 413, "too_large", "t"),
        (ApiError::RateLimited("r".into()), 429, "rate_limited", "r"),
        (ApiError::Unavailable("s".into()), 503, "unavailable", "s"),
        (
            ApiError::Unexpected(anyhow::anyhow!("secret detail")),
            500,
            "internal",
            "internal error",
        ),
    ];
    for (e, status, code, message) in cases {
        let (got_status, got) = body(e).await;
        assert_eq!(got_status, status, "{code}");
        assert_eq!(
            got,
            serde_json::json!({"error": {"code": code, "message": message}})
        );
    }
}

#[actix_web::test]
async fn room_refusals_map_to_http_statuses() {
    let cases = [
        (ErrorCode::BadRequest, 400),
        (ErrorCode::Forbidden, 403),
        (ErrorCode::Banned, 403),
        (ErrorCode::NotJoined, 404),
        (ErrorCode::TooLong, 400),
        (ErrorCode::RateLimited, 429),
        (ErrorCode::SlowMode, 429),
        (ErrorCode::TimedOut, 429),
        (ErrorCode::TooManyRooms, 429),
        (ErrorCode::Internal, 500),
    ];
    for (code, status) in cases {
        let (got, _) = body(ApiError::from(Refusal::new(code, "m"))).await;
        assert_eq!(got, status, "{code:?}");
    }
}
