//! The actix-web services: the trivial handler in an `App`, without and with `actix_cors::Cors`.
//!
//! Requests go through the initialized `App` service as `actix_web::test::call_service` sends
//! them (`Service::call`, then the future), without a server or a socket.
//!
//! actix-web has its own request type, built here by `TestRequest`, which copies each field
//! value into a buffer of its own: these requests are not the tower subjects' (one shared head
//! buffer, as hyper parses it; [`crate::request`]). Both actix subjects get the same requests,
//! so actix-cors's own cost, its count minus the bare `App`'s, still subtracts like from like.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use actix_web::{App, HttpResponse, web};

use crate::policies::{HOST, reference_origins};
use crate::scenario::{LayerScenario, ResponseSummary, Subject, block_on};

/// An initialized actix-web `App` under measurement.
pub struct ActixSubject<S, R> {
    app: S,
    to_request: fn(TestRequest) -> R,
    // Keeps the actix system that initialized the app alive as long as the app.
    _system: actix_web::rt::SystemRunner,
}

impl<S, R> std::fmt::Debug for ActixSubject<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixSubject").finish_non_exhaustive()
    }
}

impl<S, R, B> Subject for ActixSubject<S, R>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Request = R;
    type Response = ServiceResponse<B>;

    fn request_for(&self, method: &'static str, fields: &[(&'static str, &'static str)]) -> R {
        let method = actix_web::http::Method::from_bytes(method.as_bytes())
            .expect("invariant: the benches' methods are tokens");
        let mut request =
            TestRequest::default().method(method).uri("/").insert_header(("host", HOST));
        for &field in fields {
            // Appended, as a server reads them: a name given twice keeps both lines.
            request = request.append_header(field);
        }
        (self.to_request)(request)
    }

    fn call(&self, request: R) -> ServiceResponse<B> {
        // As `actix_web::test::call_service` does.
        block_on(self.app.call(request)).expect("invariant: the handler never fails")
    }

    fn summary(response: &ServiceResponse<B>) -> ResponseSummary {
        let headers = response.headers().iter();
        ResponseSummary::new(
            response.status().as_u16(),
            headers.map(|(name, value)| (name.as_str(), value.as_bytes())),
        )
    }
}

/// The handler: `200 OK`, `content-type: text/plain`, body `ok`, for every method.
async fn handler() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The handler in an `App` without middleware.
#[must_use]
pub fn actix_bare() -> impl Subject {
    let system = actix_web::rt::System::new();
    let app =
        system.block_on(actix_web::test::init_service(App::new().route("/", web::to(handler))));
    ActixSubject { app, to_request: TestRequest::to_request, _system: system }
}

/// The handler in an `App` wrapped in `actix_cors::Cors`, configured as the reference policy
/// sized for `scenario` (actix-cors expresses all of it; a mirrored one as `allow_any_header`).
#[must_use]
pub fn actix_cors(scenario: LayerScenario) -> impl Subject {
    let mut cors = actix_cors::Cors::default();
    for origin in reference_origins(scenario.policy_origins()) {
        cors = cors.allowed_origin(&origin);
    }
    cors = if scenario.mirrors_headers() {
        cors.allow_any_header()
    } else {
        cors.allowed_headers(["content-type", "x-token"])
    };
    let cors = cors
        .supports_credentials()
        .allowed_methods(["GET", "POST", "PUT"])
        .expose_headers(["x-request-id"])
        .max_age(600);
    actix_with(cors)
}

/// The handler in an `App` wrapped in `cors`.
#[must_use]
pub fn actix_with(cors: actix_cors::Cors) -> impl Subject {
    let system = actix_web::rt::System::new();
    let app = system.block_on(actix_web::test::init_service(
        App::new().wrap(cors).route("/", web::to(handler)),
    ));
    ActixSubject { app, to_request: TestRequest::to_request, _system: system }
}
