//! Contract §8 user channel: `POST /api/users/{user}/notify` `{"name","data"}`
//! sends `notify` to every connection of the user on every node (202
//! `{"delivered":N}`), `GET /api/users/{user}/presence` answers
//! `{"online","connections","rooms"}` cluster-wide. Inputs are checked here;
//! the node's user index (`crate::users`) routes.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::platform::{MAX_NOTIFY_DATA_BYTES, check_notify_name};
use crate::protocol::{self, UserId};
use crate::routes::extract::Platform;
use crate::routes::{ApiError, AppState};
use crate::users::{GetPresence, Notify};

#[derive(Deserialize)]
pub struct NotifyBody {
    name: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// The user the path names, checked.
fn user_of(req: &HttpRequest) -> Result<UserId, ApiError> {
    let user = req.match_info().get("user").unwrap_or_default();
    Ok(UserId::parse(user)?)
}

/// `POST /api/users/{user}/notify`: 202 `{"delivered":N}` (connections).
pub async fn notify(
    _: Platform,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<NotifyBody>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let NotifyBody { name, data } = body.into_inner();
    check_notify_name(&name)?;
    let data = match data {
        Some(d) if d.get().trim_start().starts_with('{') => d,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "data must be a JSON object".to_owned(),
            ));
        }
        None => protocol::empty_object(),
    };
    if data.get().len() > MAX_NOTIFY_DATA_BYTES {
        return Err(ApiError::TooLarge(format!(
            "data is {} bytes; the limit is {MAX_NOTIFY_DATA_BYTES}",
            data.get().len()
        )));
    }
    let delivered = state
        .sessions
        .users
        .send(Notify {
            user: user.to_string(),
            name,
            data,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "delivered": delivered })))
}

/// `GET /api/users/{user}/presence`: 200 `{"online","connections","rooms"}`.
pub async fn presence(
    _: Platform,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(&req)?;
    let presence = state
        .sessions
        .users
        .send(GetPresence {
            user: user.to_string(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(presence))
}
