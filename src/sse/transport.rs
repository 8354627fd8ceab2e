//! An event stream as the connection loop sees it: a [`Transport`](crate::ws::Transport) whose
//! frames in are the client's posts and whose frames out become Server-Sent Events.

use crate::streams::Registration;
use axum::extract::ws::Message;
use futures_util::{Sink, Stream};
use std::{
    pin::Pin,
    task::{Context, Poll},
};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// One stream's two ends, and its place among the instance's streams (given back when the
/// connection ends, so posts to it find it gone).
pub struct EventStream {
    posted: mpsc::Receiver<String>,
    events: PollSender<Message>,
    _registration: Registration,
}

impl EventStream {
    pub fn new(
        registration: Registration,
        posted: mpsc::Receiver<String>,
        events: mpsc::Sender<Message>,
    ) -> Self {
        Self {
            posted,
            events: PollSender::new(events),
            _registration: registration,
        }
    }
}

impl Stream for EventStream {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.posted
            .poll_recv(cx)
            .map(|frame| frame.map(|text| Ok(Message::Text(text.into()))))
    }
}

/// The response body went away: the client left.
fn gone<E: std::error::Error + Send + Sync + 'static>(e: E) -> axum::Error {
    axum::Error::new(e)
}

impl Sink<Message> for EventStream {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.events).poll_ready(cx).map_err(gone)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.events).start_send(item).map_err(gone)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.events).poll_flush(cx).map_err(gone)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.events).poll_close(cx).map_err(gone)
    }
}
