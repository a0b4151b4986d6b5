// The local SMS simulator: texts the bot through /simulator/api/send (which signs and posts to
// the real Twilio webhook) and polls /simulator/api/outbox for texts the bot sends on its own.
// Its phone mode (calls, keypad) is simulator_phone.js. In WhatsApp mode each message goes as
// Twilio posts a WhatsApp message, and a question with quick replies shows them as buttons
// under the bot's last message (a tap sends the button's id, as WhatsApp does).
// Plain JavaScript, no framework. Chats are kept in memory per number, never stored. The
// number goes to the simulator in POST bodies only, never in a URL: request logs keep URLs.
(function () {
  "use strict";

  var root = document.getElementById("simulator");
  if (!root) {
    return;
  }
  var sendUrl = root.dataset.sendUrl;
  var outboxUrl = root.dataset.outboxUrl;
  var pollMs = parseInt(root.dataset.pollMs, 10) || 2000;

  var numberField = document.getElementById("sim-number");
  var newNumberButton = document.getElementById("sim-new-number");
  var transcript = document.getElementById("sim-transcript");
  var emptyNote = document.getElementById("sim-empty");
  var form = document.getElementById("sim-form");
  var textField = document.getElementById("sim-text");
  var mediaButton = document.getElementById("sim-media");
  var keywordButtons = root.querySelectorAll(".keyword");

  // Area codes of places the coalition works; the 555-0100..555-0199 range is fictional.
  var AREA_CODES = ["305", "786", "954", "561", "407", "813", "239", "772"];

  var chats = new Map(); // E.164 number -> [{who: "me" | "bot" | "system", ...}]
  var current = "";
  var sending = Promise.resolve();
  var pollFailing = false;

  function madeUpNumber() {
    var area = AREA_CODES[Math.floor(Math.random() * AREA_CODES.length)];
    var last = String(Math.floor(Math.random() * 100)).padStart(2, "0");
    return "+1" + area + "55501" + last;
  }

  function normalize(raw) {
    var text = String(raw || "").trim();
    var digits = text.replace(/\D/g, "");
    if (!digits) {
      return "";
    }
    if (text.charAt(0) === "+") {
      return "+" + digits;
    }
    if (digits.length === 10) {
      return "+1" + digits;
    }
    if (digits.length === 11 && digits.charAt(0) === "1") {
      return "+" + digits;
    }
    return "+" + digits;
  }

  function pretty(e164) {
    var m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
    return m ? "+1 (" + m[1] + ") " + m[2] + "-" + m[3] : e164;
  }

  function chatOf(number) {
    if (!chats.has(number)) {
      chats.set(number, []);
    }
    return chats.get(number);
  }

  // A message as a chat bubble: "You: " or "Bot: " for screen readers, then the text. The
  // phone mode (simulator_phone.js) builds its bubbles with it too.
  function messageNode(who, text) {
    var node = document.createElement("div");
    node.className = "msg msg-" + who;
    var label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = who === "me" ? "You: " : "Bot: ";
    var bubble = document.createElement("p");
    bubble.className = "bubble";
    bubble.textContent = text || "";
    node.appendChild(label);
    node.appendChild(bubble);
    return node;
  }

  function renderEntry(entry) {
    var node;
    if (entry.who === "system") {
      node = document.createElement("p");
      node.className = "system" + (entry.error ? " error" : "") + (entry.notice ? " notice" : "");
      node.textContent = entry.text;
    } else {
      node = messageNode(entry.who, entry.media ? "" : entry.text);
      if (entry.media) {
        var media = document.createElement("span");
        media.className = "media";
        media.textContent = "[picture]";
        node.lastChild.appendChild(media);
      }
      if (entry.buttons && entry.buttons.length) {
        node.appendChild(buttonsNode(entry.buttons));
      }
      if (entry.unprompted) {
        node.classList.add("unprompted");
        var note = document.createElement("span");
        note.className = "note";
        note.textContent = "(sent by the bot)";
        node.appendChild(note);
      }
    }
    if (emptyNote.parentNode === transcript) {
      transcript.removeChild(emptyNote);
    }
    transcript.appendChild(node);
    transcript.scrollTop = transcript.scrollHeight;
  }

  // WhatsApp quick replies: one button per option; a tap sends the form Twilio posts for it.
  function buttonsNode(buttons) {
    var group = document.createElement("div");
    group.className = "quick-replies";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Quick replies (WhatsApp buttons)");
    buttons.forEach(function (button) {
      var tap = document.createElement("button");
      tap.type = "button";
      tap.className = "quick-reply";
      tap.textContent = button.title;
      tap.addEventListener("click", function () {
        send(button.title, false, { id: button.id, title: button.title });
      });
      group.appendChild(tap);
    });
    return group;
  }

  function add(number, entry) {
    // Only the last message's buttons can be tapped: the conversation has moved on from others.
    chatOf(number).forEach(function (earlier) {
      delete earlier.buttons;
    });
    if (number === current) {
      transcript.querySelectorAll(".quick-replies").forEach(function (group) {
        group.parentNode.removeChild(group);
      });
    }
    chatOf(number).push(entry);
    if (number === current) {
      renderEntry(entry);
    }
  }

  function show(number) {
    current = number;
    transcript.textContent = "";
    var entries = chatOf(number);
    if (!entries.length) {
      transcript.appendChild(emptyNote);
    }
    entries.forEach(renderEntry);
  }

  function useNumber(number) {
    numberField.value = pretty(number);
    if (number !== current) {
      show(number);
    }
  }

  function activeNumber() {
    var number = normalize(numberField.value);
    if (number.replace(/\D/g, "").length < 8) {
      return "";
    }
    if (number !== current) {
      useNumber(number);
    }
    return number;
  }

  function describeFailure(response, data) {
    var text = "Error: the simulator answered HTTP " + response.status;
    if (data && typeof data.status === "number" && data.status !== 200) {
      text += " (the webhook answered " + data.status + ")";
    } else if (data && data.error) {
      text += " (" + data.error + ")";
    }
    return text;
  }

  // POST `payload` as JSON; resolves to {response, data}, data null when the answer is not JSON.
  // Rejects only when the simulator cannot be reached.
  function postJson(url, payload) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          return { response: response, data: data };
        });
    });
  }

  function whatsappMode() {
    return root.dataset.mode === "whatsapp";
  }

  function post(number, body, media, whatsapp, button) {
    var payload = { from: number, body: body, media: media, whatsapp: whatsapp };
    if (button) {
      payload.button = button;
    }
    return postJson(sendUrl, payload)
      .then(function (answer) {
        var data = answer.data;
        if (!answer.response.ok || !data || data.status !== 200) {
          add(number, { who: "system", error: true, text: describeFailure(answer.response, data) });
          return;
        }
        // What Twilio, not the bot, would tell the phone (STOP, START): a system line.
        (data.notices || []).forEach(function (notice) {
          add(number, { who: "system", notice: true, text: notice });
        });
        var replies = data.replies || [];
        replies.forEach(function (reply, index) {
          var last = index === replies.length - 1;
          add(number, { who: "bot", text: reply, buttons: last ? data.buttons : null });
        });
      })
      .catch(function (err) {
        add(number, {
          who: "system",
          error: true,
          text: "Error: could not reach the bot (" + err.message + ")",
        });
      });
  }

  function send(body, media, button) {
    var number = activeNumber();
    if (!number) {
      add(current, { who: "system", error: true, text: "Enter a phone number first." });
      numberField.focus();
      return;
    }
    var whatsapp = whatsappMode() || Boolean(button);
    add(number, { who: "me", text: body, media: media });
    // One text at a time, in order, like a real phone.
    sending = sending.then(function () {
      return post(number, body, media, whatsapp, button);
    });
  }

  function poll() {
    var number = current;
    var done = function () {
      window.setTimeout(poll, pollMs);
    };
    if (!number) {
      done();
      return;
    }
    postJson(outboxUrl, { from: number })
      .then(function (answer) {
        if (!answer.response.ok || !answer.data) {
          throw new Error("HTTP " + answer.response.status);
        }
        return answer.data;
      })
      .then(function (data) {
        pollFailing = false;
        (data.messages || []).forEach(function (text) {
          add(number, { who: "bot", text: text, unprompted: true });
        });
      })
      .catch(function (err) {
        if (!pollFailing) {
          pollFailing = true;
          add(number, {
            who: "system",
            error: true,
            text: "Error: could not check for texts from the bot (" + err.message + ")",
          });
        }
      })
      .then(done);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = textField.value;
    if (!body.trim()) {
      return;
    }
    textField.value = "";
    send(body, false);
    textField.focus();
  });

  mediaButton.addEventListener("click", function () {
    send("", true);
  });

  keywordButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      send(button.dataset.body, false);
    });
  });

  newNumberButton.addEventListener("click", function () {
    useNumber(madeUpNumber());
    textField.focus();
  });

  numberField.addEventListener("change", function () {
    var number = normalize(numberField.value);
    if (number) {
      useNumber(number);
    }
  });

  useNumber(madeUpNumber());
  window.setTimeout(poll, pollMs);

  // The phone mode (simulator_phone.js) calls from the same number field, posts and reports
  // failures the same way and draws the same bubbles.
  window.SurveybotSimulator = {
    activeNumber: activeNumber,
    pretty: pretty,
    describeFailure: describeFailure,
    postJson: postJson,
    messageNode: messageNode,
  };
})();
