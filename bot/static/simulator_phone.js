// The simulator's phone mode: calls the bot through /simulator/api/call, which signs and posts
// each step of the call to the real voice webhooks (/twilio/voice, the <Gather>'s action URL,
// the status callback) exactly as Twilio does. What the bot says is shown as text and read
// aloud with the browser's speech synthesis where there is one; the keypad answers the
// current <Gather> as a phone would. Plain JavaScript, no framework, nothing stored.
(function () {
  "use strict";

  var root = document.getElementById("simulator");
  var panel = document.getElementById("call-mode");
  // simulator.js, loaded first, shares the number field, posting and bubbles.
  var sim = window.SurveybotSimulator;
  if (!root || !panel || !sim) {
    return;
  }
  var callUrl = root.dataset.callUrl;

  var smsPanel = document.getElementById("sms-mode");
  var modeButtons = root.querySelectorAll(".mode");
  var transcript = document.getElementById("call-transcript");
  var emptyNote = document.getElementById("call-empty");
  var statusLine = document.getElementById("call-status");
  var digitsShown = document.getElementById("call-digits");
  var hintShown = document.getElementById("call-hint");
  var keys = panel.querySelectorAll(".key");
  var sayForm = document.getElementById("call-say");
  var speechField = document.getElementById("call-speech");
  var sayButton = document.getElementById("call-say-send");
  var startButton = document.getElementById("call-start");
  var noAnswerButton = document.getElementById("call-no-answer");
  var hangupButton = document.getElementById("call-hangup");
  var muteButton = document.getElementById("call-mute");
  var voiceNote = document.getElementById("call-voice-note");

  var LANGUAGES = { en: "English", es: "Spanish", ht: "Haitian Creole" };

  var call = null; // {number, sid, startedAt, gather, redirect, typed}
  var busy = false;

  // --- mode toggle -------------------------------------------------------------------------

  function setMode(mode) {
    modeButtons.forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.mode === mode ? "true" : "false");
    });
    if (smsPanel) {
      smsPanel.hidden = mode === "phone"; // texts and WhatsApp share the chat
    }
    panel.hidden = mode !== "phone";
    root.dataset.mode = mode;
  }

  modeButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      setMode(button.dataset.mode);
    });
  });

  // --- voice output ------------------------------------------------------------------------
  // Prompts are read one after another (a recording plays in its turn). A key press, a new
  // answer or the mute button stops whatever is being read, as barge-in does on a phone.

  var synth = null;
  try {
    if (window.speechSynthesis && typeof window.SpeechSynthesisUtterance === "function") {
      synth = window.speechSynthesis;
    }
  } catch (err) {
    synth = null;
  }
  var muted = false;
  var queue = [];
  var speaking = false;
  var generation = 0;
  var playingAudio = null;

  function stopVoice() {
    generation += 1;
    queue = [];
    speaking = false;
    if (synth) {
      try {
        synth.cancel();
      } catch (err) {
        // A browser without a working speech engine: nothing to stop.
      }
    }
    if (playingAudio) {
      playingAudio.pause();
      playingAudio = null;
    }
  }

  function nextVoice() {
    var item = queue.shift();
    if (!item) {
      speaking = false;
      return;
    }
    speaking = true;
    var mine = generation;
    var finished = false;
    var done = function () {
      if (!finished && mine === generation) {
        finished = true;
        playingAudio = null;
        nextVoice();
      }
    };
    try {
      if (item.audio) {
        playingAudio = item.audio;
        item.audio.currentTime = 0;
        item.audio.addEventListener("ended", done, { once: true });
        item.audio.addEventListener("error", done, { once: true });
        var playing = item.audio.play();
        if (playing && typeof playing.catch === "function") {
          playing.catch(done); // autoplay refused, or no such file
        }
      } else if (synth && item.text) {
        var utterance = new window.SpeechSynthesisUtterance(item.text);
        if (item.language) {
          utterance.lang = item.language;
        }
        utterance.onend = done;
        utterance.onerror = done;
        synth.speak(utterance);
      } else {
        done();
      }
    } catch (err) {
      done();
    }
  }

  function readAloud(items) {
    if (muted || !items.length) {
      return;
    }
    queue = queue.concat(items);
    if (!speaking) {
      nextVoice();
    }
  }

  muteButton.addEventListener("click", function () {
    muted = !muted;
    muteButton.setAttribute("aria-pressed", muted ? "true" : "false");
    if (muted) {
      stopVoice();
    }
  });

  if (!synth) {
    voiceNote.hidden = false;
  }

  // --- transcript --------------------------------------------------------------------------

  // What a bubble is labelled with: the <Say>'s language and voice, or that it is a recording
  // (and its language when the file is named like "ht/consent.mp3").
  function languageLabel(prompt) {
    if (prompt.audio) {
      var code = /^([a-z]{2,3})\//.exec(prompt.recording || "");
      var language = code ? LANGUAGES[code[1]] || code[1] : "";
      return language ? language + " recording" : "recording";
    }
    return [prompt.language, prompt.voice].filter(Boolean).join(" \u00b7 ");
  }

  function append(node) {
    if (emptyNote.parentNode === transcript) {
      transcript.removeChild(emptyNote);
    }
    transcript.appendChild(node);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function addSystem(text, error) {
    var node = document.createElement("p");
    node.className = "system" + (error ? " error" : "");
    node.textContent = text;
    append(node);
  }

  function addMine(text) {
    append(sim.messageNode("me", text));
  }

  // One prompt as a bubble; returns what to read aloud for it.
  function addPrompt(prompt) {
    var node = sim.messageNode("bot", prompt.text);
    if (prompt.audio) {
      node.classList.add("recording");
    }
    if (prompt.language) {
      node.lang = prompt.language;
    }
    var label = document.createElement("span");
    label.className = "lang";
    label.textContent = languageLabel(prompt);
    node.insertBefore(label, node.lastChild);
    var item = { text: prompt.text, language: prompt.language, audio: null };
    if (prompt.audio) {
      if (prompt.audio_src) {
        var audio = document.createElement("audio");
        audio.controls = true;
        audio.preload = "none";
        audio.src = prompt.audio_src;
        node.appendChild(audio);
        item.audio = audio;
      } else {
        var missing = document.createElement("span");
        missing.className = "note";
        missing.textContent = "(the bot has no such recording file yet)";
        node.appendChild(missing);
        item = null;
      }
    }
    append(node);
    return item;
  }

  // --- call state and controls -------------------------------------------------------------

  function accepts(kind) {
    var gather = call && call.gather;
    return Boolean(gather && String(gather.input || "dtmf").split(" ").indexOf(kind) !== -1);
  }

  function gatherHint(gather) {
    if (!gather) {
      return "";
    }
    var parts = [];
    if (accepts("dtmf")) {
      if (gather.numDigits === 1) {
        parts.push("press one key");
      } else if (gather.finishOnKey) {
        parts.push("press each number, then " + gather.finishOnKey);
      } else {
        parts.push("press keys");
      }
    }
    if (accepts("speech")) {
      parts.push("or say it");
    }
    return parts.join(" ");
  }

  function elapsed() {
    return call ? Math.max(0, Math.round((Date.now() - call.startedAt) / 1000)) : 0;
  }

  function clock(seconds) {
    var s = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function update() {
    var active = Boolean(call);
    var listening = active && !busy && Boolean(call.gather);
    // For tests and styles: idle | ended | busy | connected | listening, and the kind of input
    // the bot waits for: one-key | finish-on-key | keys.
    if (active) {
      panel.dataset.state = busy ? "busy" : listening ? "listening" : "connected";
    } else if (panel.dataset.state !== "ended") {
      panel.dataset.state = "idle";
    }
    var kind = "";
    if (listening && accepts("dtmf")) {
      kind = "keys";
      if (call.gather.numDigits === 1) {
        kind = "one-key";
      } else if (call.gather.finishOnKey) {
        kind = "finish-on-key";
      }
    }
    panel.dataset.gather = kind;
    startButton.disabled = active;
    hangupButton.disabled = !active;
    noAnswerButton.disabled = !listening;
    keys.forEach(function (key) {
      key.disabled = !(listening && accepts("dtmf"));
    });
    speechField.disabled = sayButton.disabled = !(listening && accepts("speech"));
    digitsShown.textContent = active && call.typed ? call.typed.split("").join(" ") : "";
    hintShown.textContent = listening ? gatherHint(call.gather) : "";
    if (active) {
      var who = sim.pretty(call.number);
      statusLine.textContent = busy
        ? (call.sid ? "In a call from " : "Calling the bot from ") + who + "..."
        : "In a call from " + who + (listening ? ": the bot is listening" : "");
    }
  }

  function endCall(data, why) {
    var seconds = elapsed();
    var note = why + " after " + clock(seconds) + ".";
    if (data && typeof data.status_callback === "number") {
      note += " Status callback: HTTP " + data.status_callback + ".";
    }
    var callback = data && data.status_callback;
    addSystem(note, typeof callback === "number" && (callback < 200 || callback > 299));
    statusLine.textContent = why + " (" + clock(seconds) + ")";
    call = null;
    panel.dataset.state = "ended";
  }

  function handle(response, data, endReason) {
    if (!response.ok || !data) {
      addSystem(sim.describeFailure(response, data), true);
    }
    if (data && data.call_sid && call) {
      call.sid = data.call_sid;
    }
    var reading = [];
    ((data && data.prompts) || []).forEach(function (prompt) {
      var item = addPrompt(prompt);
      if (item) {
        reading.push(item);
      }
    });
    readAloud(reading);
    if (!call) {
      return;
    }
    call.gather = (data && data.gather) || null;
    call.redirect = (data && data.redirect) || null;
    call.typed = "";
    if (endReason) {
      endCall(data, endReason);
    } else if (!data || data.ended) {
      endCall(data, response.ok ? "The bot ended the call" : "The call failed");
    }
  }

  // One step of the call; `endReason` says why the call ends when the caller ends it.
  function step(payload, endReason) {
    payload.from = call.number;
    payload.call_sid = call.sid;
    payload.duration = elapsed();
    busy = true;
    update();
    return sim
      .postJson(callUrl, payload)
      .then(function (answer) {
        handle(answer.response, answer.data, endReason);
      })
      .catch(function (err) {
        addSystem("Error: could not reach the bot (" + err.message + ")", true);
        if (call) {
          endCall(null, "The call failed");
        }
      })
      .then(function () {
        busy = false;
        update();
      });
  }

  // --- caller actions ----------------------------------------------------------------------

  function startCall() {
    if (call || busy) {
      return;
    }
    var number = sim.activeNumber();
    if (!number) {
      addSystem("Enter a phone number first.", true);
      document.getElementById("sim-number").focus();
      return;
    }
    stopVoice();
    call = { number: number, sid: null, startedAt: Date.now(), gather: null, typed: "" };
    addSystem("Calling the bot from " + sim.pretty(number));
    step({ action: "start" });
  }

  function submitDigits(digits, finishedOnKey) {
    var shown = (digits + finishedOnKey).split("").join(" ");
    addMine(shown ? "Pressed " + shown : "Pressed nothing");
    stopVoice();
    step({
      action: "press",
      url: call.gather.action,
      digits: digits,
      finished_on_key: finishedOnKey,
    });
  }

  function press(key) {
    if (!call || busy || !call.gather || !accepts("dtmf")) {
      return;
    }
    var gather = call.gather;
    stopVoice();
    if (gather.finishOnKey && gather.finishOnKey.indexOf(key) !== -1) {
      submitDigits(call.typed, key);
      return;
    }
    call.typed += key;
    if (gather.numDigits && call.typed.length >= gather.numDigits) {
      submitDigits(call.typed, "");
      return;
    }
    update();
  }

  function noAnswer() {
    if (!call || busy || !call.gather) {
      return;
    }
    stopVoice();
    var gather = call.gather;
    addMine("(no answer)");
    if (gather.actionOnEmptyResult) {
      // Twilio posts to the action after the timeout, with no Digits.
      step({ action: "press", url: gather.action, digits: call.typed });
    } else if (call.redirect) {
      step({ action: "press", url: call.redirect, digits: "" });
    } else {
      // Nothing after the <Gather>: the document ends and Twilio hangs up.
      step({ action: "hangup" }, "Nobody answered: the bot hung up");
    }
  }

  function say(text) {
    if (!call || busy || !accepts("speech")) {
      return;
    }
    stopVoice();
    addMine("Said \u201c" + text + "\u201d");
    step({ action: "say", url: call.gather.action, speech: text });
  }

  function hangUp() {
    if (!call || busy) {
      return;
    }
    stopVoice();
    step({ action: "hangup" }, "You hung up");
  }

  keys.forEach(function (button) {
    button.addEventListener("click", function () {
      press(button.dataset.key);
    });
  });

  // The computer's keyboard works as the keypad while the phone mode is shown.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
    if (panel.hidden || typing || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (/^[0-9*#]$/.test(event.key)) {
      event.preventDefault();
      press(event.key);
    }
  });

  sayForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = speechField.value.trim();
    if (!text) {
      return;
    }
    speechField.value = "";
    say(text);
  });

  startButton.addEventListener("click", startCall);
  noAnswerButton.addEventListener("click", noAnswer);
  hangupButton.addEventListener("click", hangUp);

  setMode(["phone", "whatsapp"].indexOf(root.dataset.mode) >= 0 ? root.dataset.mode : "text");
  update();
})();
